package authz

import "strings"

// Permission is an entry of the permission registry.
type Permission struct {
	ID       int64
	AppLabel string
	Codename string
	Name     string // human-readable, e.g. "Can view page"
}

// Key returns the permission's name as used everywhere else: app_label.codename.
func (p Permission) Key() string { return p.AppLabel + "." + p.Codename }

// maxPermPartLen bounds app labels and codenames, matching the columns'
// VARCHAR(100).
const maxPermPartLen = 100

// ParsePerm splits a permission name into app label and codename. Both parts
// are lower-case ASCII letters, digits and '_', starting with a letter; any
// other string is an ErrMalformedPermission.
func ParsePerm(name string) (appLabel, codename string, err error) {
	appLabel, codename, ok := strings.Cut(name, ".")
	if !ok || !validPermPart(appLabel) || !validPermPart(codename) {
		return "", "", &PermissionError{Name: name, Err: ErrMalformedPermission}
	}
	return appLabel, codename, nil
}

func validPermPart(s string) bool {
	if s == "" || len(s) > maxPermPartLen || s[0] < 'a' || s[0] > 'z' {
		return false
	}
	for i := 1; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}
