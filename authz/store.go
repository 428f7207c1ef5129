package authz

import (
	"context"
	"time"
)

// User is a principal: it holds permissions directly and through groups.
type User struct {
	ID          int64
	Username    string
	IsActive    bool
	IsSuperuser bool
	CreatedAt   time.Time
}

// Group is a named set of users; what a group holds, its members hold.
type Group struct {
	ID   int64
	Name string
}

// Project is the scope of project grants.
type Project struct {
	ID        int64
	Name      string
	CreatedAt time.Time
}

// Holder is the user or the group that a grant is given to: exactly one of
// the two ids is set.
type Holder struct {
	User  int64
	Group int64
}

// Grants is what one statement loads for a check: the user's flags, the
// permissions the user holds globally, and those it holds in each of the
// asked projects. A project absent from Projects does not exist.
type Grants struct {
	UserFound   bool
	Username    string
	IsActive    bool
	IsSuperuser bool
	Global      map[int64]Sources           // permission id → sources
	Projects    map[int64]map[int64]Sources // project id → permission id → sources
	// Revision is the store's change counter in the snapshot the grants
	// were read from (0: the store keeps none, and the shared cache
	// cannot hold its grants).
	Revision int64
}

// RevisionFeed tells the shared cache about changes to what checks read.
// A store implements it when every change to users, groups, memberships,
// permissions, projects, grants and tokens bumps a revision in the
// changing transaction.
type RevisionFeed interface {
	// Revision returns the newest committed revision.
	Revision(ctx context.Context) (int64, error)
	// WatchRevisions calls ready once it is listening, then seen with each
	// revision any writer commits, until ctx ends or the connection fails;
	// it returns why it stopped. A store that cannot push revisions returns
	// ErrNoRevisionFeed at once, and the cache polls instead.
	WatchRevisions(ctx context.Context, ready func() error, seen func(rev int64)) error
}

// TokenStore finds the active user an API token belongs to: an unknown or
// revoked token, or one of an inactive user, is ErrUnauthenticated.
type TokenStore interface {
	UserByToken(ctx context.Context, secret string) (User, error)
}

// ViewerStore is a TokenStore that also returns, in the same statement,
// what the token's user holds globally (Grants with the revision), so that
// authenticating a request answers the viewer's global checks too; and,
// asked by also, the grants a request's first check will read, so that a
// cold request costs one statement. The viewer's Grants hold also.Projects
// when also.User is 0; other is also.User's grants in also.Projects (nil
// when also.User is 0), read in the same snapshot, with the same revision.
type ViewerStore interface {
	TokenStore
	ViewerByToken(ctx context.Context, secret string, also ViewerLoad) (u User, tok TokenInfo, viewer, other *Grants, err error)
}

// IdentityStore finds the grantql user of an issuer's subject (an OIDC/JWT
// caller), with what ViewerStore brings with a token, in one statement.
// A subject without a user is ErrNotFound; an inactive user is a
// *RefusedError.
type IdentityStore interface {
	ViewerByIdentity(ctx context.Context, issuer, subject string, also ViewerLoad) (u User, viewer, other *Grants, err error)
}

// ViewerLoad names grants a token's look-up loads with it: those of User
// (0: the token's user) in Projects. It is a hint; nothing is decided by
// it, and a wrong one only loads what no check reads.
type ViewerLoad struct {
	User     int64
	Projects []int64
}

// UserSources is one answer of UsersWithProjectPerm: a user and where its
// permission comes from, in decision order.
type UserSources struct {
	User    User
	Sources []Reason
}

// GrantStore loads what decisions need. LoadGrants must cost one statement.
type GrantStore interface {
	// Permissions returns the whole registry.
	Permissions(ctx context.Context) ([]Permission, error)
	// LoadGrants returns the user's flags, global grants and the grants it
	// holds in the given projects (none: global grants alone).
	LoadGrants(ctx context.Context, user int64, projects []int64) (*Grants, error)
}

// TokenGrantStore is a GrantStore that can load a user's grants through
// the API token the user authenticated with, so that a check confirms the
// token in the statement that reads the grants (WithViewerToken).
type TokenGrantStore interface {
	// LoadGrantsByToken is LoadGrants of the user of the unrevoked token
	// whose hash is hash, with that user (whatever its flags), in one
	// statement; ErrUnauthenticated when there is no such token.
	LoadGrantsByToken(ctx context.Context, hash string, projects []int64) (User, TokenInfo, *Grants, error)
}

// ReverseStore answers the reverse questions, each in one statement.
type ReverseStore interface {
	// ProjectsWithPerm returns up to limit projects with id > after, in id
	// order, in which the user holds the permission; userFound is false
	// when the user does not exist.
	ProjectsWithPerm(ctx context.Context, user, perm, after int64, limit int) (projects []Project, userFound bool, err error)
	// CountProjectsWithPerm counts all of them; a *NotFoundError when the
	// user does not exist.
	CountProjectsWithPerm(ctx context.Context, user, perm int64) (int, error)
	// UsersWithProjectPerm returns up to limit active users with id >
	// after, in id order, who hold the permission in the project, with
	// their sources; projectFound is false when the project does not exist.
	UsersWithProjectPerm(ctx context.Context, perm, project, after int64, limit int) (users []UserSources, projectFound bool, err error)
	// CountUsersWithProjectPerm counts all of them; a *NotFoundError when
	// the project does not exist.
	CountUsersWithProjectPerm(ctx context.Context, perm, project int64) (int, error)
}

// GrantWriter changes grants, memberships, flags and the entities they hang
// on. Each method is one transaction. Methods that name an id that does not
// exist return a *NotFoundError; granting what is held already is no error;
// revoking what is not held answers false.
type GrantWriter interface {
	DefinePermission(ctx context.Context, p Permission) (Permission, error)
	GrantPerm(ctx context.Context, h Holder, perm int64) error
	RevokePerm(ctx context.Context, h Holder, perm int64) (bool, error)
	GrantProjectPerm(ctx context.Context, h Holder, perm, project int64) error
	RevokeProjectPerm(ctx context.Context, h Holder, perm, project int64) (bool, error)
	CreateUser(ctx context.Context, u User) (User, error)
	UpdateUser(ctx context.Context, id int64, isActive, isSuperuser *bool) (User, error)
	DeleteUser(ctx context.Context, id int64) (bool, error)
	CreateGroup(ctx context.Context, name string) (Group, error)
	DeleteGroup(ctx context.Context, id int64) (bool, error)
	AddUserToGroup(ctx context.Context, user, group int64) error
	RemoveUserFromGroup(ctx context.Context, user, group int64) (bool, error)
	// CreateProject creates a project and grants the creator (0: nobody)
	// the given permissions in it, in one transaction.
	CreateProject(ctx context.Context, name string, creator int64, perms []int64) (Project, error)
	DeleteProject(ctx context.Context, id int64) (bool, error)
}

// Store is everything the engine needs from storage.
type Store interface {
	GrantStore
	ReverseStore
	GrantWriter
	HolderGrantStore
	PageStore
	RuleSubjectStore
}

// Page is the built-in example resource: it belongs to one project. The
// built-in object-level rules read Published and AuthorID.
type Page struct {
	ID        int64
	ProjectID int64
	Title     string
	Body      string
	Published bool
	AuthorID  int64 // 0: none (never set, or the author was deleted)
	CreatedAt time.Time
}

// HeldGrants is everything a user or group holds: global permissions, and
// permissions per project. A user's include what its groups give it.
type HeldGrants struct {
	Global   []int64
	Projects map[int64][]int64 // project id → permission ids
}

// HolderGrantStore tells what a user or group holds, for the escalation
// checks of adding a group member and of minting a token for someone else.
type HolderGrantStore interface {
	HolderGrants(ctx context.Context, h Holder) (HeldGrants, error)
}

// PageStore writes pages, the built-in example resource. Methods that name
// a page that does not exist return a *NotFoundError.
type PageStore interface {
	// CreatePage stores p in its project, with its author (0: none).
	CreatePage(ctx context.Context, p Page) (Page, error)
	// UpdatePage changes the fields given (nil: unchanged) and returns the page.
	UpdatePage(ctx context.Context, id int64, title, body *string) (Page, error)
	// PublishPage sets whether the page is published and returns it.
	PublishPage(ctx context.Context, id int64, published bool) (Page, error)
	DeletePage(ctx context.Context, id int64) (bool, error)
}
