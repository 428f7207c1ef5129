package models

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/grantql/grantql/authz"
	"gorm.io/gorm"
)

// Token is an API token without its secret.
type Token struct {
	ID        int64
	UserID    int64
	Name      string
	CreatedAt time.Time
	RevokedAt *time.Time
}

// CreateToken stores a new token for user and returns it with its secret,
// which is not stored and cannot be shown again.
func (s *Store) CreateToken(ctx context.Context, user int64, name string) (Token, string, error) {
	secret, hash := authz.NewToken()
	row := APIToken{UserID: user, Name: name, TokenHash: hash}
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := exists(tx, "user", "users", user); err != nil {
			return err
		}
		return tx.Create(&row).Error
	})
	if err != nil {
		return Token{}, "", txError(fmt.Sprintf("create token for user %d", user), s.vanished(ctx, err, userRow(user)))
	}
	return Token{ID: row.ID, UserID: row.UserID, Name: row.Name, CreatedAt: row.CreatedAt}, secret, nil
}

// viewerSQL finds the user of an unrevoked token, with the permissions it
// holds globally and the revision, in the layout of a grants statement
// (readGrants): the user row carries the user's id in project_id and its
// created_at in a seventh column. The token is found once, by its unique
// hash ($1), in t (PostgreSQL keeps a common table expression that is
// read more than once, instead of repeating it in each branch), and each
// branch follows primary keys from there.
const viewerSQL = `
WITH t AS (SELECT user_id FROM api_tokens WHERE token_hash = $1 AND revoked_at IS NULL)
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
	args := []any{hash}
	q := viewerSQL
	user, shift := tokenUserSQL, 0
	if also.User != 0 {
		args = append(args, also.User)
		user, shift = "$2", otherKinds
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
	u, _, _, err := s.ViewerByToken(ctx, secret, authz.ViewerLoad{})
	return u, err
}

// ViewerByToken implements authz.ViewerStore: UserByToken, what the user
// holds globally, and the grants also names, in one statement.
func (s *Store) ViewerByToken(ctx context.Context, secret string, also authz.ViewerLoad) (authz.User, *authz.Grants, *authz.Grants, error) {
	q, args := viewerStatement(authz.HashToken(secret), also)
	rows, err := s.query(ctx, q, args...)
	if err != nil {
		return authz.User{}, nil, nil, dbError("look up token", err)
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
		return authz.User{}, nil, nil, dbError("look up token", err)
	case !g.UserFound:
		return authz.User{}, nil, nil, fmt.Errorf("unknown or revoked token: %w", authz.ErrUnauthenticated)
	case !g.IsActive:
		return authz.User{}, nil, nil, fmt.Errorf("the token's user is inactive: %w", authz.ErrUnauthenticated)
	}
	u := authz.User{ID: v.id, Username: g.Username, IsActive: true, IsSuperuser: g.IsSuperuser, CreatedAt: v.createdAt.UTC()}
	return u, g, other, nil
}

var _ authz.TokenGrantStore = (*Store)(nil)

// LoadGrantsByToken implements authz.TokenGrantStore: the grants of the
// user of an unrevoked token in projects, and that user whatever its
// flags, with the token statement (one statement). An unknown or revoked
// token is authz.ErrUnauthenticated; an inactive user's grants are
// dropped, as LoadGrants drops them, and its flags say why.
func (s *Store) LoadGrantsByToken(ctx context.Context, hash string, projects []int64) (authz.User, *authz.Grants, error) {
	q, args := viewerStatement(hash, authz.ViewerLoad{Projects: projects})
	rows, err := s.query(ctx, q, args...)
	if err != nil {
		return authz.User{}, nil, dbError("load grants by token", err)
	}
	var v viewerRow
	g, err := readGrants(rows, len(projects), &v, nil)
	switch {
	case err != nil:
		return authz.User{}, nil, dbError("load grants by token", err)
	case !g.UserFound:
		return authz.User{}, nil, fmt.Errorf("unknown or revoked token: %w", authz.ErrUnauthenticated)
	}
	u := authz.User{ID: v.id, Username: g.Username, IsActive: g.IsActive, IsSuperuser: g.IsSuperuser, CreatedAt: v.createdAt.UTC()}
	return u, g, nil
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
