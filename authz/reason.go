package authz

// Reason says which step of the decision decided. Its string values are the
// GraphQL enum DecisionReason's.
type Reason string

// The reasons for an allow.
const (
	ReasonSuperuser    Reason = "SUPERUSER"
	ReasonGlobalUser   Reason = "GLOBAL_USER"
	ReasonGlobalGroup  Reason = "GLOBAL_GROUP"
	ReasonProjectUser  Reason = "PROJECT_USER"
	ReasonProjectGroup Reason = "PROJECT_GROUP"
	ReasonObjectRule   Reason = "OBJECT_RULE"
)

// The reasons for a deny.
const (
	ReasonDeniedByRule      Reason = "DENIED_BY_RULE"
	ReasonVetoed            Reason = "VETOED"
	ReasonInactive          Reason = "INACTIVE"
	ReasonAnonymous         Reason = "ANONYMOUS"
	ReasonNoGrant           Reason = "NO_GRANT"
	ReasonUnknownPermission Reason = "UNKNOWN_PERMISSION"
)

// Sources is a set of the places a user holds a permission from, as a bit
// set so that a loaded grant costs one byte.
type Sources uint8

// The four grant sources of docs/model.md, The decision, in the order the decision tries them.
const (
	FromGlobalUser Sources = 1 << iota
	FromGlobalGroup
	FromProjectUser
	FromProjectGroup
)

// sourceReasons lists each source with its reason, in decision order.
var sourceReasons = []struct {
	source Sources
	reason Reason
}{
	{FromGlobalUser, ReasonGlobalUser},
	{FromGlobalGroup, ReasonGlobalGroup},
	{FromProjectUser, ReasonProjectUser},
	{FromProjectGroup, ReasonProjectGroup},
}

// FirstReason returns the reason of the first source in decision order, and
// false for an empty set.
func (s Sources) FirstReason() (Reason, bool) {
	for _, sr := range sourceReasons {
		if s&sr.source != 0 {
			return sr.reason, true
		}
	}
	return "", false
}

// Reasons returns the reasons of every source in the set, in decision order.
func (s Sources) Reasons() []Reason {
	var out []Reason
	for _, sr := range sourceReasons {
		if s&sr.source != 0 {
			out = append(out, sr.reason)
		}
	}
	return out
}
