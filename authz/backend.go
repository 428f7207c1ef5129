package authz

import "context"

// Effect is what a backend says about a check.
type Effect int

// A backend allows, abstains or vetoes. The first Allow in the chain wins; a
// Veto ends the check with a deny at once (Django's PermissionDenied); when
// every backend abstains, the check is denied.
const (
	Abstain Effect = iota
	Allow
	Veto
)

// Query is what a backend is asked: may User have Perm (in Project, when it
// is not 0)? Held is where the user holds Perm from, as stored grants say;
// the built-in backend decides on it alone.
type Query struct {
	User    int64
	Perm    Permission
	Project int64
	Held    Sources
}

// Vote is a backend's answer. Reason says why it allowed; when a backend
// allows without one, the decision reports ReasonObjectRule.
type Vote struct {
	Effect Effect
	Reason Reason
}

// Backend is one link of the decision chain. Anonymous and inactive users
// are denied, and active superusers allowed, before any backend is asked.
type Backend interface {
	// Name identifies the backend in decisions and logs.
	Name() string
	// Check votes on q. An error ends the check with that error and a deny.
	Check(ctx context.Context, q Query) (Vote, error)
}

// BuiltinBackendName is the name of the backend that implements the steps of docs/model.md, The decision.
const BuiltinBackendName = "builtin"

// BuiltinBackend returns the backend of steps 3 and 4 of the decision (docs/model.md): it allows
// when the user holds the permission globally (directly or through a group)
// or in the project (directly or through a group), and abstains otherwise.
func BuiltinBackend() Backend { return builtinBackend{} }

type builtinBackend struct{}

func (builtinBackend) Name() string { return BuiltinBackendName }

func (builtinBackend) Check(_ context.Context, q Query) (Vote, error) {
	if r, ok := q.Held.FirstReason(); ok {
		return Vote{Effect: Allow, Reason: r}, nil
	}
	return Vote{Effect: Abstain}, nil
}
