package models

import (
	"context"
	"errors"
	"fmt"
	"unicode/utf8"

	"github.com/grantql/grantql/authz"
	"gorm.io/gorm"
)

var _ authz.RuleStore = (*Store)(nil)

// maxRuleObjectTypeLen matches rules.object_type.
const maxRuleObjectTypeLen = 100

func (r Rule) domain() authz.StoredRule {
	return authz.StoredRule{ID: r.ID, Perm: r.Permission, ObjectType: r.ObjectType, Expression: r.Expression,
		Description: r.Description, CreatedAt: r.CreatedAt}
}

func (r Rule) state() ruleState {
	return ruleState{ID: r.ID, ObjectType: r.ObjectType, Expression: r.Expression, Description: r.Description}
}

// Rules returns every declarative rule, in id order. The table holds one
// row per (permission, object type) that has a rule, so the engine reads
// it whole and keeps the compiled programs.
func (s *Store) Rules(ctx context.Context) ([]authz.StoredRule, error) {
	var rows []Rule
	if err := s.db.WithContext(ctx).Order("id").Find(&rows).Error; err != nil {
		return nil, dbError("list rules", err)
	}
	out := make([]authz.StoredRule, len(rows))
	for i, r := range rows {
		out[i] = r.domain()
	}
	return out, nil
}

// CreateRule stores a rule and records its create_rule event. A second
// rule for the same (permission, object type) is an authz.ErrConflict that
// names the rule in the way. The expression is stored as given: the
// engine compiles it before it comes here.
func (s *Store) CreateRule(ctx context.Context, r authz.StoredRule) (authz.StoredRule, error) {
	if n := utf8.RuneCountInString(r.ObjectType); n == 0 || n > maxRuleObjectTypeLen {
		return authz.StoredRule{}, authz.InvalidInput("object type must be 1 to %d characters long, not %d", maxRuleObjectTypeLen, n)
	}
	row := Rule{Permission: r.Perm, ObjectType: r.ObjectType, Expression: r.Expression, Description: r.Description, CreatedAt: now()}
	conflict := func(id int64) error {
		return authz.Conflict("a rule for %s on %s objects exists already (rule %d): delete it first", r.Perm, r.ObjectType, id)
	}
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		// The unique (permission, object_type) index answers this, and
		// stops a concurrent twin at the insert below.
		var old Rule
		err := tx.Where("permission = ? AND object_type = ?", r.Perm, r.ObjectType).Take(&old).Error
		if err == nil {
			return conflict(old.ID)
		}
		if !errors.Is(err, gorm.ErrRecordNotFound) {
			return err
		}
		if err := tx.Create(&row).Error; err != nil {
			return err
		}
		return recordEvent(ctx, tx, authz.GrantEvent{Action: authz.ActionCreateRule, Perm: r.Perm, After: state(row.state())})
	})
	if err != nil {
		if errors.Is(err, gorm.ErrDuplicatedKey) {
			return authz.StoredRule{}, authz.Conflict("a rule for %s on %s objects exists already: delete it first", r.Perm, r.ObjectType)
		}
		return authz.StoredRule{}, txError(fmt.Sprintf("create rule for %s on %s", r.Perm, r.ObjectType), err)
	}
	return row.domain(), nil
}

// DeleteRule deletes a rule and records its delete_rule event; false when
// there was none.
func (s *Store) DeleteRule(ctx context.Context, id int64) (bool, error) {
	var r Rule
	return s.deleteRecorded(ctx, "rule", &r, id, func() authz.GrantEvent {
		return authz.GrantEvent{Action: authz.ActionDeleteRule, Perm: r.Permission, Before: state(r.state())}
	})
}
