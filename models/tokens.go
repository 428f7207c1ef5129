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
		return Token{}, "", txError(fmt.Sprintf("create token for user %d", user), err)
	}
	return Token{ID: row.ID, UserID: row.UserID, Name: row.Name, CreatedAt: row.CreatedAt}, secret, nil
}

// UserByToken returns the active user a token belongs to. An unknown or
// revoked token, or one of an inactive user, is authz.ErrUnauthenticated.
func (s *Store) UserByToken(ctx context.Context, secret string) (authz.User, error) {
	var u User
	err := s.db.WithContext(ctx).Table("api_tokens t").Select("u.*").
		Joins("JOIN users u ON u.id = t.user_id").
		Where("t.token_hash = ? AND t.revoked_at IS NULL", authz.HashToken(secret)).
		Take(&u).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return authz.User{}, fmt.Errorf("unknown or revoked token: %w", authz.ErrUnauthenticated)
	}
	if err != nil {
		return authz.User{}, dbError("look up token", err)
	}
	if !u.IsActive {
		return authz.User{}, fmt.Errorf("the token's user is inactive: %w", authz.ErrUnauthenticated)
	}
	return u.domain(), nil
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
