package models

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"

	"github.com/grantql/grantql/authz"
	"gorm.io/gorm"
)

// maxUsernameTries bounds the usernames CreateIdentityUser tries: the
// derived one, then with -2, -3, ... appended.
const maxUsernameTries = 20

// CreateIdentityUser creates an active user for an issuer's subject, with
// its identity and its create_user event, in one transaction, and returns
// it. The username is base when it is free, else base-2, base-3, ...; a
// subject that got its user meanwhile (a concurrent request) answers that
// user.
func (s *Store) CreateIdentityUser(ctx context.Context, issuer, subject, base string) (authz.User, error) {
	var lastErr error
	for i := 1; i <= maxUsernameTries; i++ {
		name := base
		if i > 1 {
			suffix := "-" + strconv.Itoa(i)
			name = truncateRunes(base, authz.MaxUsernameLen-len(suffix)) + suffix
		}
		u := User{Username: name, IsActive: true}
		err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
			var known UserIdentity
			err := tx.Where("issuer = ? AND subject = ?", issuer, subject).Take(&known).Error
			if err == nil {
				return tx.Take(&u, known.UserID).Error
			}
			if !errors.Is(err, gorm.ErrRecordNotFound) {
				return err
			}
			if err := createUser(ctx, tx, &u); err != nil {
				return err
			}
			return tx.Create(&UserIdentity{Issuer: issuer, Subject: subject, UserID: u.ID}).Error
		})
		if err == nil {
			return u.domain(), nil
		}
		lastErr = dbError(fmt.Sprintf("create user of %s subject %q", issuer, subject), err)
		if !errors.Is(lastErr, authz.ErrConflict) {
			return authz.User{}, lastErr
		}
	}
	return authz.User{}, lastErr
}

// truncateRunes returns s cut to at most n runes.
func truncateRunes(s string, n int) string {
	r := []rune(s)
	if len(r) > n {
		r = r[:n]
	}
	return string(r)
}

// SetGroupIssuer marks a group as managed by issuer's group claim, or
// by admins when issuer is "". It reports whether the group exists.
func (s *Store) SetGroupIssuer(ctx context.Context, group int64, issuer string) error {
	var v *string
	if issuer != "" {
		v = &issuer
	}
	res := s.db.WithContext(ctx).Model(&Group{}).Where("id = ?", group).Update("managed_by_issuer", v)
	if res.Error != nil {
		return dbError(fmt.Sprintf("set the issuer of group %d", group), res.Error)
	}
	if res.RowsAffected == 0 {
		return &authz.NotFoundError{Kind: "group", ID: group}
	}
	return nil
}

// GroupIssuers returns the issuers managing groups, by group id; a group
// an admin manages is absent.
func (s *Store) GroupIssuers(ctx context.Context, groups []int64) (map[int64]string, error) {
	var rows []Group
	if err := s.db.WithContext(ctx).Select("id", "managed_by_issuer").
		Where("id IN ? AND managed_by_issuer IS NOT NULL", groups).Find(&rows).Error; err != nil {
		return nil, dbError("read group issuers", err)
	}
	out := make(map[int64]string, len(rows))
	for _, g := range rows {
		out[g.ID] = *g.ManagedByIssuer
	}
	return out, nil
}

// SyncIssuerGroups makes user a member of exactly those groups managed by
// issuer whose names are in names, and of no other group issuer manages;
// groups admins manage, and those of other issuers, are not touched.
// Each membership added or removed is recorded as addUserToGroup and
// removeUserFromGroup record theirs, in one transaction; when nothing
// changes nothing is written (the reads bump no revision). It reports
// whether anything changed.
func (s *Store) SyncIssuerGroups(ctx context.Context, user int64, issuer string, names []string) (bool, error) {
	changed := false
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var managed []Group
		// groups_managed_by_issuer_idx.
		if err := tx.Select("id", "name").Where("managed_by_issuer = ?", issuer).Find(&managed).Error; err != nil {
			return err
		}
		if len(managed) == 0 {
			return nil
		}
		ids := make([]int64, len(managed))
		for i, g := range managed {
			ids[i] = g.ID
		}
		var member []int64
		if err := tx.Model(&UserGroup{}).Where("user_id = ? AND group_id IN ?", user, ids).
			Pluck("group_id", &member).Error; err != nil {
			return err
		}
		for _, g := range managed {
			want, is := slices.Contains(names, g.Name), slices.Contains(member, g.ID)
			switch {
			case want && !is:
				if err := tx.Create(&UserGroup{UserID: user, GroupID: g.ID}).Error; err != nil {
					return err
				}
				if err := recordEvent(ctx, tx, authz.GrantEvent{Action: authz.ActionAddUserToGroup, User: user, Group: g.ID,
					Before: state(memberState{false}), After: state(memberState{true})}); err != nil {
					return err
				}
				changed = true
			case !want && is:
				if err := tx.Where("user_id = ? AND group_id = ?", user, g.ID).Delete(&UserGroup{}).Error; err != nil {
					return err
				}
				if err := recordEvent(ctx, tx, authz.GrantEvent{Action: authz.ActionRemoveUserFromGroup, User: user, Group: g.ID,
					Before: state(memberState{true}), After: state(memberState{false})}); err != nil {
					return err
				}
				changed = true
			}
		}
		return nil
	})
	if err != nil {
		return false, txError(fmt.Sprintf("sync the %s groups of user %d", issuer, user), err)
	}
	return changed, nil
}
