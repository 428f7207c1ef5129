package authz

import (
	"errors"
	"fmt"
)

// Error categories. Every error the engine returns wraps exactly one of
// them, so that callers (the GraphQL error presenter above all) can map it
// to a code with errors.Is.
var (
	// ErrMalformedPermission: a permission name not of the shape app_label.codename.
	ErrMalformedPermission = errors.New("malformed permission")
	// ErrUnknownPermission: a well-formed permission name that is not in the registry.
	ErrUnknownPermission = errors.New("unknown permission")
	// ErrNotFound: a user, group, project or other object id that does not exist.
	ErrNotFound = errors.New("not found")
	// ErrInvalidInput: any other input the engine refuses.
	ErrInvalidInput = errors.New("invalid input")
	// ErrConflict: the input collides with something that exists (a taken username).
	ErrConflict = errors.New("conflict")
	// ErrUnauthenticated: the caller's credentials are missing, unknown or revoked.
	ErrUnauthenticated = errors.New("unauthenticated")
	// ErrForbidden: the caller is known but not allowed.
	ErrForbidden = errors.New("forbidden")
	// ErrUnavailable: the store could not be reached; the engine fails closed.
	ErrUnavailable = errors.New("unavailable")
)

// NotFoundError names the kind and id of something that does not exist.
type NotFoundError struct {
	Kind string // "user", "group", "project", ...
	ID   int64
}

func (e *NotFoundError) Error() string { return fmt.Sprintf("%s %d not found", e.Kind, e.ID) }

// Is makes errors.Is(err, ErrNotFound) true.
func (e *NotFoundError) Is(target error) bool { return target == ErrNotFound }

// PermissionError reports a malformed or unknown permission name.
type PermissionError struct {
	Name string
	Err  error // ErrMalformedPermission or ErrUnknownPermission
}

func (e *PermissionError) Error() string {
	if e.Err == ErrMalformedPermission {
		return fmt.Sprintf("malformed permission %q: want app_label.codename, lower-case letters, digits and _, each part starting with a letter", e.Name)
	}
	return fmt.Sprintf("unknown permission %q", e.Name)
}

func (e *PermissionError) Unwrap() error { return e.Err }

// DeniedError says that a user lacks a permission, and why.
type DeniedError struct {
	Perm    string
	Project int64 // 0 for a global permission
	Reason  Reason
	// Missing is, when an object rule denied Perm for want of another
	// permission, that permission (Decision.Missing): the one the user
	// lacks, where Perm may be one they hold. Empty otherwise.
	Missing string
}

// Needed returns the permission the user lacks: Missing when a rule named
// one, Perm otherwise.
func (e *DeniedError) Needed() string {
	if e.Missing != "" {
		return e.Missing
	}
	return e.Perm
}

func (e *DeniedError) Error() string {
	if e.Missing != "" {
		// The user may hold Perm: the message names what they lack.
		where := ""
		if e.Project != 0 {
			where = fmt.Sprintf(" in project %d", e.Project)
		}
		return fmt.Sprintf("permission %s denied%s: a rule on the object makes %s need it too (%s)",
			e.Missing, where, e.Perm, e.Reason)
	}
	if e.Project == 0 {
		return fmt.Sprintf("permission %s denied (%s)", e.Perm, e.Reason)
	}
	return fmt.Sprintf("permission %s denied in project %d (%s)", e.Perm, e.Project, e.Reason)
}

// Is makes errors.Is(err, ErrForbidden) true.
func (e *DeniedError) Is(target error) bool { return target == ErrForbidden }

// UnavailableError wraps a storage failure. Its cause is kept for logs and
// never shown to clients.
type UnavailableError struct{ Err error }

func (e *UnavailableError) Error() string { return "storage unavailable: " + e.Err.Error() }
func (e *UnavailableError) Unwrap() error { return e.Err }

// Is makes errors.Is(err, ErrUnavailable) true.
func (e *UnavailableError) Is(target error) bool { return target == ErrUnavailable }

// categorized is an error whose message is meant for the client as it is,
// and whose category is one of the sentinels above.
type categorized struct {
	msg      string
	category error
}

func (e *categorized) Error() string        { return e.msg }
func (e *categorized) Is(target error) bool { return target == e.category }

// invalid builds an ErrInvalidInput error with a message that names the problem.
func invalid(format string, args ...any) error {
	return &categorized{msg: fmt.Sprintf(format, args...), category: ErrInvalidInput}
}

// Conflict returns an ErrConflict error with a message that names what collides.
func Conflict(format string, args ...any) error {
	return &categorized{msg: fmt.Sprintf(format, args...), category: ErrConflict}
}

// InvalidInput returns an ErrInvalidInput error whose message names the
// problem, for input checks made outside the engine (ids of the wrong
// shape, say).
func InvalidInput(format string, args ...any) error { return invalid(format, args...) }

// Unauthenticated returns an ErrUnauthenticated error saying what needs a
// signed-in user.
func Unauthenticated(what string) error { return errSignIn(what) }
