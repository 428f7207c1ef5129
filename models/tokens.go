package models

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/grantql/grantql/authz"
	"gorm.io/gorm"
)

// Token is an API token without its secret.
type Token struct {
	ID         int64
	UserID     int64
	Name       string
	CreatedAt  time.Time
	RevokedAt  *time.Time
	ExpiresAt  *time.Time
	LastUsedAt *time.Time
}

// CreateToken stores a new token for user, expiring at expiresAt (nil:
// never), and returns it with its secret, which is not stored and cannot
// be shown again.
func (s *Store) CreateToken(ctx context.Context, user int64, name string, expiresAt *time.Time) (Token, string, error) {
	secret, hash := authz.NewToken()
	if expiresAt != nil {
		at := expiresAt.UTC()
		expiresAt = &at
	}
	row := APIToken{UserID: user, Name: name, TokenHash: hash, ExpiresAt: expiresAt}
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := exists(tx, "user", "users", user); err != nil {
			return err
		}
		return tx.Create(&row).Error
	})
	if err != nil {
		return Token{}, "", txError(fmt.Sprintf("create token for user %d", user), s.vanished(ctx, err, userRow(user)))
	}
	return Token{ID: row.ID, UserID: row.UserID, Name: row.Name, CreatedAt: row.CreatedAt, ExpiresAt: row.ExpiresAt}, secret, nil
}

// viewerSQL finds the user of a credential, with the permissions it holds
// globally and the revision, in the layout of a grants statement
// (readGrants): the user row carries the user's id in project_id and its
// created_at in a seventh column. The credential is found once, in t
// (%s: tokenCTE or identityCTE; PostgreSQL keeps a common table
// expression that is read more than once, instead of repeating it in each
// branch), and each branch follows primary keys from there.
const viewerSQL = `
WITH t AS (%s)
SELECT 0 AS kind, u.id AS project_id, CAST(NULL AS BIGINT) AS permission_id,
       u.is_active AS is_active, u.is_superuser AS is_superuser, u.username AS username, u.created_at AS created_at
  FROM t JOIN users u ON u.id = t.user_id
UNION ALL
SELECT 1, NULL, up.permission_id, NULL, NULL, NULL, NULL
  FROM t JOIN user_permissions up ON up.user_id = t.user_id
UNION ALL
SELECT 2, NULL, gp.permission_id, NULL, NULL, NULL, NULL
  FROM t JOIN user_groups ug ON ug.user_id = t.user_id
  JOIN group_permissions gp ON gp.group_id = ug.group_id
UNION ALL
SELECT 6, NULL, r.revision, NULL, NULL, NULL, NULL FROM authz_revision r WHERE r.id = 1`

// tokenCTE finds an unrevoked token by its unique hash ($1).
const tokenCTE = `SELECT id, user_id, expires_at FROM api_tokens WHERE token_hash = $1 AND revoked_at IS NULL`

// tokenRowSQL adds the token's row to the token statement: its id in
// project_id and its expiry in the seventh column.
const tokenRowSQL = `
UNION ALL
SELECT 7, t.id, NULL, NULL, NULL, NULL, t.expires_at FROM t`

// rowToken is the kind of tokenRowSQL's row.
const rowToken = 7

// identityCTE finds an issuer's subject ($1, $2) by the unique index of
// user_identities.
const identityCTE = `SELECT user_id FROM user_identities WHERE issuer = $1 AND subject = $2`

// The token's user as an expression of the grants statements' branches:
// viewerSQL's t.
const tokenUserSQL = `(SELECT t.user_id FROM t)`

// alsoSQL adds to the token statement the branches of a grants statement,
// in its seven columns, with the kinds shifted by %[1]d.
const alsoSQL = `
UNION ALL
SELECT o.kind + %[1]d, o.project_id, o.permission_id, o.is_active, o.is_superuser, o.username, NULL
  FROM (%[2]s) o`

// viewerStatement returns the token statement of hash, loading also with
// it, and its arguments: the token's user's projects join viewerSQL's
// kinds; another user's grants come shifted by otherKinds.
func viewerStatement(hash string, also authz.ViewerLoad) (string, []any) {
	return credentialStatement(fmt.Sprintf(viewerSQL, tokenCTE)+tokenRowSQL, []any{hash}, also)
}

// identityStatement is viewerStatement of an issuer's subject.
func identityStatement(issuer, subject string, also authz.ViewerLoad) (string, []any) {
	return credentialStatement(fmt.Sprintf(viewerSQL, identityCTE), []any{issuer, subject}, also)
}

// credentialStatement adds to q, a viewerSQL with arguments args, the
// branches of also.
func credentialStatement(q string, args []any, also authz.ViewerLoad) (string, []any) {
	user, shift := tokenUserSQL, 0
	if also.User != 0 {
		args = append(args, also.User)
		user, shift = fmt.Sprintf("$%d", len(args)), otherKinds
		q += fmt.Sprintf(alsoSQL, shift, fmt.Sprintf(userGrantsSQL, user))
	}
	if len(also.Projects) > 0 {
		q += fmt.Sprintf(alsoSQL, shift, fmt.Sprintf(projectGrantsSQL, user, params(len(args)+1, len(also.Projects))))
		for _, p := range also.Projects {
			args = append(args, p)
		}
	}
	return q, args
}

// UserByToken returns the active user a token belongs to. An unknown or
// revoked token, or one of an inactive user, is authz.ErrUnauthenticated.
func (s *Store) UserByToken(ctx context.Context, secret string) (authz.User, error) {
	u, _, _, _, err := s.ViewerByToken(ctx, secret, authz.ViewerLoad{})
	return u, err
}

// ViewerByToken implements authz.ViewerStore: UserByToken, what the user
// holds globally, and the grants also names, in one statement. An expired
// token is refused (authz.RefusedTokenExpired).
func (s *Store) ViewerByToken(ctx context.Context, secret string, also authz.ViewerLoad) (authz.User, authz.TokenInfo, *authz.Grants, *authz.Grants, error) {
	q, args := viewerStatement(authz.HashToken(secret), also)
	u, g, other, v, err := s.viewer(ctx, "look up token", q, args, also)
	switch {
	case errors.Is(err, errNoViewer):
		return authz.User{}, authz.TokenInfo{}, nil, nil, authz.Refused(authz.RefusedUnknownToken, "the bearer token is unknown or revoked")
	case err != nil:
		return authz.User{}, authz.TokenInfo{}, nil, nil, err
	case v.token.Expired(time.Now()):
		return authz.User{}, v.token, nil, nil, authz.ErrTokenExpired(v.token.ExpiresAt)
	}
	return u, v.token, g, other, nil
}

// ViewerByIdentity implements authz.IdentityStore.
func (s *Store) ViewerByIdentity(ctx context.Context, issuer, subject string, also authz.ViewerLoad) (authz.User, *authz.Grants, *authz.Grants, error) {
	q, args := identityStatement(issuer, subject, also)
	u, g, other, _, err := s.viewer(ctx, "look up identity", q, args, also)
	if errors.Is(err, errNoViewer) {
		return authz.User{}, nil, nil, &authz.NotFoundError{Kind: "identity"}
	}
	return u, g, other, err
}

// errNoViewer is viewer's error when the credential has no user.
var errNoViewer = errors.New("no such credential")

// viewer runs a credential statement: errNoViewer when the credential
// finds no user, a refusal when the user is inactive.
func (s *Store) viewer(ctx context.Context, what, q string, args []any, also authz.ViewerLoad) (authz.User, *authz.Grants, *authz.Grants, viewerRow, error) {
	rows, err := s.query(ctx, q, args...)
	if err != nil {
		return authz.User{}, nil, nil, viewerRow{}, dbError(what, err)
	}
	var (
		v     viewerRow
		other *authz.Grants
	)
	if also.User != 0 {
		other = newGrants(len(also.Projects))
	}
	g, err := readGrants(rows, len(also.Projects), &v, other)
	switch {
	case err != nil:
		return authz.User{}, nil, nil, v, dbError(what, err)
	case !g.UserFound:
		return authz.User{}, nil, nil, v, errNoViewer
	case !g.IsActive:
		return authz.User{}, nil, nil, v, authz.Refused(authz.RefusedInactiveUser, "the bearer token's user is inactive")
	}
	u := authz.User{ID: v.id, Username: g.Username, IsActive: true, IsSuperuser: g.IsSuperuser, CreatedAt: v.createdAt.UTC()}
	return u, g, other, v, nil
}

var _ authz.TokenGrantStore = (*Store)(nil)

// LoadGrantsByToken implements authz.TokenGrantStore: the grants of the
// user of an unrevoked token in projects, and that user whatever its
// flags, with the token statement (one statement). An unknown or revoked
// token is authz.ErrUnauthenticated; an inactive user's grants are
// dropped, as LoadGrants drops them, and its flags say why.
func (s *Store) LoadGrantsByToken(ctx context.Context, hash string, projects []int64) (authz.User, authz.TokenInfo, *authz.Grants, error) {
	q, args := viewerStatement(hash, authz.ViewerLoad{Projects: projects})
	rows, err := s.query(ctx, q, args...)
	if err != nil {
		return authz.User{}, authz.TokenInfo{}, nil, dbError("load grants by token", err)
	}
	var v viewerRow
	g, err := readGrants(rows, len(projects), &v, nil)
	switch {
	case err != nil:
		return authz.User{}, authz.TokenInfo{}, nil, dbError("load grants by token", err)
	case !g.UserFound:
		return authz.User{}, authz.TokenInfo{}, nil, fmt.Errorf("unknown or revoked token: %w", authz.ErrUnauthenticated)
	case v.token.Expired(time.Now()):
		return authz.User{}, v.token, nil, authz.ErrTokenExpired(v.token.ExpiresAt)
	}
	u := authz.User{ID: v.id, Username: g.Username, IsActive: g.IsActive, IsSuperuser: g.IsSuperuser, CreatedAt: v.createdAt.UTC()}
	return u, v.token, g, nil
}

// TouchTokens records when tokens were last used (ids to times), in one
// statement. The column is outside the revision trigger, so this
// invalidates no cache; a later time never goes back.
func (s *Store) TouchTokens(ctx context.Context, used map[int64]time.Time) error {
	if len(used) == 0 {
		return nil
	}
	var (
		q    strings.Builder
		args []any
		ids  []any
	)
	// PostgreSQL types a CASE of parameters as text; SQLite takes the time
	// as the driver writes it.
	when := " WHEN ? THEN ?"
	if s.db.Dialector.Name() == Postgres {
		when = " WHEN ? THEN CAST(? AS TIMESTAMPTZ)"
	}
	q.WriteString("UPDATE api_tokens SET last_used_at = CASE id")
	for id, at := range used {
		q.WriteString(when)
		args = append(args, id, at.UTC())
		ids = append(ids, id)
	}
	q.WriteString(" END WHERE id IN ?")
	args = append(args, ids)
	if err := s.db.WithContext(ctx).Exec(q.String(), args...).Error; err != nil {
		return dbError("record token use", err)
	}
	return nil
}

// RevokeToken marks a token revoked; false when it does not exist or was
// revoked already.
func (s *Store) RevokeToken(ctx context.Context, id int64) (bool, error) {
	res := s.db.WithContext(ctx).Model(&APIToken{}).Where("id = ? AND revoked_at IS NULL", id).
		Update("revoked_at", time.Now().UTC())
	if res.Error != nil {
		return false, dbError(fmt.Sprintf("revoke token %d", id), res.Error)
	}
	return res.RowsAffected > 0, nil
}

// CreateSuperuser creates an active superuser with one API token, in one
// transaction with its create_user event; a taken username is
// authz.ErrConflict.
func (s *Store) CreateSuperuser(ctx context.Context, username string) (authz.User, string, error) {
	if err := authz.ValidateUsername(username); err != nil {
		return authz.User{}, "", err
	}
	secret, hash := authz.NewToken()
	u := User{Username: username, IsActive: true, IsSuperuser: true}
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := createUser(ctx, tx, &u); err != nil {
			return err
		}
		return tx.Create(&APIToken{UserID: u.ID, Name: "createsuperuser", TokenHash: hash}).Error
	})
	if err != nil {
		err = dbError(fmt.Sprintf("create superuser %q", username), err)
		if errors.Is(err, authz.ErrConflict) {
			err = authz.Conflict("username %q is taken", username)
		}
		return authz.User{}, "", err
	}
	return u.domain(), secret, nil
}
