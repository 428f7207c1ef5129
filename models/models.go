package models

import "time"

// The gorm models mirror the migrated schema column for column; the drift
// test in migrate_test.go holds them to it. Link tables have models of
// their own rather than gorm associations, so that every query is explicit.

// User is a row of users.
type User struct {
	ID          int64
	Username    string
	IsActive    bool
	IsSuperuser bool
	CreatedAt   time.Time
}

// Group is a row of groups.
type Group struct {
	ID        int64
	Name      string
	CreatedAt time.Time
	// ManagedByIssuer is the OIDC issuer whose group claim sets the
	// group's members; nil for a group an admin manages.
	ManagedByIssuer *string
}

// UserGroup is a membership.
type UserGroup struct {
	UserID  int64 `gorm:"primaryKey;autoIncrement:false"`
	GroupID int64 `gorm:"primaryKey;autoIncrement:false"`
}

// Permission is an entry of the permission registry.
type Permission struct {
	ID       int64
	AppLabel string
	Codename string
	Name     string
}

// UserPermission is a global user grant.
type UserPermission struct {
	UserID       int64 `gorm:"primaryKey;autoIncrement:false"`
	PermissionID int64 `gorm:"primaryKey;autoIncrement:false"`
}

// GroupPermission is a global group grant.
type GroupPermission struct {
	GroupID      int64 `gorm:"primaryKey;autoIncrement:false"`
	PermissionID int64 `gorm:"primaryKey;autoIncrement:false"`
}

// Project is a row of projects.
type Project struct {
	ID        int64
	Name      string
	CreatedAt time.Time
}

// Page belongs to one project.
type Page struct {
	ID        int64
	ProjectID int64
	Title     string
	Body      string
	Published bool
	AuthorID  *int64
	CreatedAt time.Time
}

// ProjectPermission is a project grant: permission P in project X, held by
// the users and groups linked to it.
type ProjectPermission struct {
	ID           int64
	ProjectID    int64
	PermissionID int64
}

// ProjectPermissionUser links a user to a project grant.
type ProjectPermissionUser struct {
	ProjectPermissionID int64 `gorm:"primaryKey;autoIncrement:false"`
	UserID              int64 `gorm:"primaryKey;autoIncrement:false"`
}

// ProjectPermissionGroup links a group to a project grant.
type ProjectPermissionGroup struct {
	ProjectPermissionID int64 `gorm:"primaryKey;autoIncrement:false"`
	GroupID             int64 `gorm:"primaryKey;autoIncrement:false"`
}

// APIToken is a bearer token, stored as the hex SHA-256 of its secret.
type APIToken struct {
	ID        int64
	UserID    int64
	Name      string
	TokenHash string
	CreatedAt time.Time
	RevokedAt *time.Time
	// ExpiresAt is when the token stops working; nil: never.
	ExpiresAt *time.Time
	// LastUsedAt is when the token last authenticated, written in
	// batches (TouchTokens); nil: never used.
	LastUsedAt *time.Time
}

// UserIdentity maps a user of an OIDC/JWT issuer to a grantql user.
type UserIdentity struct {
	ID        int64
	Issuer    string
	Subject   string
	UserID    int64
	CreatedAt time.Time
}

// TableName keeps gorm from naming the table a_p_i_tokens.
func (APIToken) TableName() string { return "api_tokens" }

// AuthzRevision is the single row that counts changes to what checks
// read; triggers bump it (migration 00006, docs/consistency.md).
type AuthzRevision struct {
	ID       int16
	Revision int64
}

// TableName names the single-row table.
func (AuthzRevision) TableName() string { return "authz_revision" }

// DecisionLog is one persisted decision.
type DecisionLog struct {
	ID         int64
	UID        string
	Name       string
	Permission string
	Allowed    bool
	Reason     string
	UserID     *int64
	ProjectID  *int64
	ObjectType *string
	ObjectID   *string
	Source     string
	RequestID  string
	Backend    string
	Username   string
	CreatedAt  time.Time
	// Entries holds the log's lines, in order, as a JSON array of
	// {"text": …, "tags": […]}.
	Entries string
	// AutoTagged says that one of the lines carries the tag auto, which
	// decision_log_tags leaves out (migration 00008).
	AutoTagged bool
}

// DecisionLogTag says that a decision log has a tag other than auto: one
// of its entries carries it.
type DecisionLogTag struct {
	DecisionLogID int64  `gorm:"primaryKey;autoIncrement:false"`
	Tag           string `gorm:"primaryKey"`
}

// Rule is a declarative object-level rule.
type Rule struct {
	ID          int64
	Permission  string
	ObjectType  string
	Expression  string
	Description string
	CreatedAt   time.Time
}

// GrantEvent is one entry of the audit trail of grant changes. Its ids
// have no foreign keys: the trail outlives what it mentions.
type GrantEvent struct {
	ID         int64
	ActorID    *int64
	Action     string
	UserID     *int64
	GroupID    *int64
	ProjectID  *int64
	Permission string
	Before     string
	After      string
	CreatedAt  time.Time
}

// All lists every model, for the drift test and for tools that walk the
// schema.
func All() []any {
	return []any{
		&User{}, &Group{}, &UserGroup{}, &Permission{}, &UserPermission{}, &GroupPermission{},
		&Project{}, &Page{}, &ProjectPermission{}, &ProjectPermissionUser{}, &ProjectPermissionGroup{},
		&APIToken{}, &UserIdentity{}, &DecisionLog{}, &DecisionLogTag{}, &Rule{}, &GrantEvent{},
		&AuthzRevision{},
	}
}
