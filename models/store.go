package models

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"

	"github.com/grantql/grantql/authz"
	"github.com/jackc/pgx/v5/pgconn"
	"gorm.io/gorm"
)

// Store implements authz.Store, and the plain reads the API needs, over a
// gorm database.
type Store struct {
	db *gorm.DB
	// sql runs the reads of checks and of authentication without gorm,
	// whose statement building would cost about as much CPU as the
	// database takes to answer them (see query).
	sql *sql.DB
	// dialect and url let the revision feed open a listening connection.
	dialect, url string
	// revision is the pool of one connection of the revision's reads.
	revision *sql.DB
	// partitions are the days known to have a decision_logs partition
	// (PostgreSQL; decisionlog_partitions.go).
	partitions *partitionDays
}

var _ authz.Store = (*Store)(nil)

// NewStore returns a store over db.
func NewStore(db *DB) *Store {
	return &Store{db: db.Gorm, sql: db.SQL(), dialect: db.Dialect, url: db.url, revision: db.revision,
		partitions: &partitionDays{}}
}

// query runs a read with positional parameters ($1, $2, …, which both
// dialects take) straight on the connection pool, counted like gorm's
// statements.
func (s *Store) query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	count(ctx, query)
	return s.sql.QueryContext(ctx, query, args...)
}

// dbError wraps a database error with the operation that failed: a lost or
// refused connection becomes an *authz.UnavailableError so that the API
// says UNAVAILABLE (and fails closed); a duplicate key becomes
// authz.ErrConflict.
func dbError(op string, err error) error {
	if err == nil {
		return nil
	}
	var pgErr *pgconn.PgError
	if errors.Is(err, gorm.ErrDuplicatedKey) || errors.As(err, &pgErr) && pgErr.Code == uniqueViolation {
		return fmt.Errorf("%s: %w", op, authz.ErrConflict)
	}
	if isConnError(err) {
		return &authz.UnavailableError{Err: fmt.Errorf("%s: %w", op, err)}
	}
	return fmt.Errorf("%s: %w", op, err)
}

// uniqueViolation is PostgreSQL's SQLSTATE for a duplicate key, which gorm
// translates but a statement run on pgx directly (COPY) reports as it is.
const uniqueViolation = "23505"

func isConnError(err error) bool {
	var (
		netErr     net.Error
		connectErr *pgconn.ConnectError
		pgErr      *pgconn.PgError
	)
	if errors.As(err, &pgErr) {
		// Class 08 is a connection exception; 57P01–57P03 are the server
		// shutting down or not yet accepting connections.
		return strings.HasPrefix(pgErr.Code, "08") || strings.HasPrefix(pgErr.Code, "57P")
	}
	// A connection cut mid-answer ends in an unexpected EOF; pgconn marks
	// the errors of a request that never reached the server as safe to
	// retry.
	return errors.Is(err, driver.ErrBadConn) || errors.Is(err, sql.ErrConnDone) ||
		errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) ||
		errors.As(err, &netErr) || errors.As(err, &connectErr) || pgconn.SafeToRetry(err) ||
		err.Error() == "sql: database is closed"
}

// Permissions returns the whole registry.
func (s *Store) Permissions(ctx context.Context) ([]authz.Permission, error) {
	var rows []Permission
	if err := s.db.WithContext(ctx).Order("app_label, codename").Find(&rows).Error; err != nil {
		return nil, dbError("load permissions", err)
	}
	out := make([]authz.Permission, len(rows))
	for i, r := range rows {
		out[i] = authz.Permission{ID: r.ID, AppLabel: r.AppLabel, Codename: r.Codename, Name: r.Name}
	}
	return out, nil
}

// DefinePermission adds a permission and records its define_permission
// event; a duplicate is authz.ErrConflict.
func (s *Store) DefinePermission(ctx context.Context, p authz.Permission) (authz.Permission, error) {
	row := Permission{AppLabel: p.AppLabel, Codename: p.Codename, Name: p.Name}
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := tx.Create(&row).Error; err != nil {
			return err
		}
		return recordEvent(ctx, tx, authz.GrantEvent{Action: authz.ActionDefinePermission, Perm: p.Key(),
			After: state(nameState{p.Name})})
	})
	if err != nil {
		err = dbError(fmt.Sprintf("define permission %s", p.Key()), err)
		if errors.Is(err, authz.ErrConflict) {
			err = authz.Conflict("permission %s exists already", p.Key())
		}
		return authz.Permission{}, err
	}
	p.ID = row.ID
	return p, nil
}

func (u User) domain() authz.User {
	return authz.User{ID: u.ID, Username: u.Username, IsActive: u.IsActive, IsSuperuser: u.IsSuperuser, CreatedAt: u.CreatedAt}
}

// User returns a user by id: a *authz.NotFoundError when there is none.
func (s *Store) User(ctx context.Context, id int64) (authz.User, error) {
	var u User
	err := s.db.WithContext(ctx).Take(&u, id).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return authz.User{}, &authz.NotFoundError{Kind: "user", ID: id}
	}
	if err != nil {
		return authz.User{}, dbError(fmt.Sprintf("load user %d", id), err)
	}
	return u.domain(), nil
}

// UsersByID returns the users with the given ids that exist, by id, in one
// statement.
func (s *Store) UsersByID(ctx context.Context, ids []int64) (map[int64]authz.User, error) {
	out := make(map[int64]authz.User, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	var rows []User
	if err := s.db.WithContext(ctx).Where("id IN ?", ids).Find(&rows).Error; err != nil {
		return nil, dbError(fmt.Sprintf("load %d users", len(ids)), err)
	}
	for _, u := range rows {
		out[u.ID] = u.domain()
	}
	return out, nil
}

// UserByUsername returns a user by name: a *authz.NotFoundError when there is none.
func (s *Store) UserByUsername(ctx context.Context, username string) (authz.User, error) {
	var u User
	err := s.db.WithContext(ctx).Where("username = ?", username).Take(&u).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return authz.User{}, fmt.Errorf("user %q: %w", username, authz.ErrNotFound)
	}
	if err != nil {
		return authz.User{}, dbError(fmt.Sprintf("load user %q", username), err)
	}
	return u.domain(), nil
}

// CountUsers counts all users.
func (s *Store) CountUsers(ctx context.Context) (int64, error) {
	var n int64
	if err := s.db.WithContext(ctx).Model(&User{}).Count(&n).Error; err != nil {
		return 0, dbError("count users", err)
	}
	return n, nil
}

// UserGroups returns the groups of each user, in name order.
func (s *Store) UserGroups(ctx context.Context, users []int64) (map[int64][]authz.Group, error) {
	var rows []struct {
		UserID int64
		ID     int64
		Name   string
	}
	err := s.db.WithContext(ctx).Table("user_groups ug").
		Select("ug.user_id, g.id, g.name").
		Joins("JOIN groups g ON g.id = ug.group_id").
		Where("ug.user_id IN ?", users).Order("g.name").Scan(&rows).Error
	if err != nil {
		return nil, dbError("load groups of users", err)
	}
	out := make(map[int64][]authz.Group, len(users))
	for _, r := range rows {
		out[r.UserID] = append(out[r.UserID], authz.Group{ID: r.ID, Name: r.Name})
	}
	return out, nil
}
