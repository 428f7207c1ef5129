// Package model holds the Go types of grantql's GraphQL schema: the ones
// gqlgen generates (models_gen.go) and the ones written here, which carry
// database ids and lazily counted totals that the schema does not show.
package model

import (
	"context"
	"time"
)

// User is the GraphQL User. DBID is its database id; Groups, when not nil,
// holds groups loaded in a batch with other users. HolderIn, when not 0,
// is the project whose holders the user was listed among (projectGrants,
// usersWithProjectPerm), for the user's visibility rule.
type User struct {
	ID          string   `json:"id"`
	Username    string   `json:"username"`
	IsActive    bool     `json:"isActive"`
	IsSuperuser bool     `json:"isSuperuser"`
	DBID        int64    `json:"-"`
	Groups      []*Group `json:"-"`
	HolderIn    int64    `json:"-"`
}

// Project is the GraphQL Project.
type Project struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	CreatedAt time.Time `json:"createdAt"`
	DBID      int64     `json:"-"`
}

// InProject implements gqlauthz.InProject: a project belongs to itself.
func (p *Project) InProject() int64 { return p.DBID }

// Page is the GraphQL Page; its project is loaded on demand.
type Page struct {
	ID        string     `json:"id"`
	Title     *string    `json:"title"`
	Body      *string    `json:"body"`
	CreatedAt *time.Time `json:"createdAt"`
	Published *bool      `json:"published"`
	DBID      int64      `json:"-"`
	ProjectID int64      `json:"-"`
	AuthorID  int64      `json:"-"`
}

// InProject implements gqlauthz.InProject.
func (p *Page) InProject() int64 { return p.ProjectID }

// DecisionLog is the GraphQL DecisionLog; its user and project load on demand.
type DecisionLog struct {
	ID         string         `json:"id"`
	Name       string         `json:"name"`
	Permission string         `json:"permission"`
	Allowed    bool           `json:"allowed"`
	Reason     DecisionReason `json:"reason"`
	ObjectType *string        `json:"objectType"`
	ObjectID   *string        `json:"objectId"`
	Entries    []*LogEntry    `json:"entries"`
	Source     string         `json:"source"`
	RequestID  string         `json:"requestId"`
	Backend    string         `json:"backend"`
	CreatedAt  time.Time      `json:"createdAt"`
	UserID     int64          `json:"-"`
	ProjectID  int64          `json:"-"`
}

// GrantEvent is the GraphQL GrantEvent; its actor loads on demand.
type GrantEvent struct {
	ID         string    `json:"id"`
	Action     string    `json:"action"`
	UserID     *string   `json:"userId"`
	GroupID    *string   `json:"groupId"`
	ProjectID  *string   `json:"projectId"`
	Permission *string   `json:"permission"`
	Before     *string   `json:"before"`
	After      *string   `json:"after"`
	CreatedAt  time.Time `json:"createdAt"`
	ActorID    int64     `json:"-"`
}

// Counter counts every item of a connection, all pages together. It runs
// only when a query asks for totalCount.
type Counter func(ctx context.Context) (int, error)

// ProjectConnection is a page of projects.
type ProjectConnection struct {
	Edges    []*ProjectEdge `json:"edges"`
	PageInfo *PageInfo      `json:"pageInfo"`
	Count    Counter        `json:"-"`
}

// PageConnection is a page of pages.
type PageConnection struct {
	Edges    []*PageEdge `json:"edges"`
	PageInfo *PageInfo   `json:"pageInfo"`
	Count    Counter     `json:"-"`
}

// UserConnection is a page of users.
type UserConnection struct {
	Edges    []*UserEdge `json:"edges"`
	PageInfo *PageInfo   `json:"pageInfo"`
	Count    Counter     `json:"-"`
}

// GroupConnection is a page of groups.
type GroupConnection struct {
	Edges    []*GroupEdge `json:"edges"`
	PageInfo *PageInfo    `json:"pageInfo"`
	Count    Counter      `json:"-"`
}

// UserPermissionConnection is a page of users who hold a permission.
type UserPermissionConnection struct {
	Edges    []*UserPermissionEdge `json:"edges"`
	PageInfo *PageInfo             `json:"pageInfo"`
	Count    Counter               `json:"-"`
}

// Group is the GraphQL Group. DBID is its database id. HolderIn, when not
// 0, is the project in whose grants the group was listed (projectGrants);
// MemberOf, when not 0, is the user whose groups it was listed among.
// They say how the group was reached, for its visibility rule.
type Group struct {
	ID       string `json:"id"`
	Name     string `json:"name"`
	DBID     int64  `json:"-"`
	HolderIn int64  `json:"-"`
	MemberOf int64  `json:"-"`
}

// APIToken is the GraphQL ApiToken; UserID is the user it acts as.
type APIToken struct {
	ID        string     `json:"id"`
	Name      string     `json:"name"`
	CreatedAt time.Time  `json:"createdAt"`
	RevokedAt *time.Time `json:"revokedAt,omitempty"`
	// ExpiresAt and LastUsedAt are nil for never.
	ExpiresAt  *time.Time `json:"expiresAt,omitempty"`
	LastUsedAt *time.Time `json:"lastUsedAt,omitempty"`
	UserID     int64      `json:"-"`
}
