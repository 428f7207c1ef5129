package models

import (
	"math"
	"sort"
)

// The skewed shape of a bulk dataset (ShapeSkewed), for a cold check's
// cost on data shaped like a large organisation's rather than a tidy one:
//   - memberships: a user joins 0 to 4 groups (weights
//     bulkSkewMembershipWeights), and a group is drawn with a heavy tail:
//     the group at rank r (from 0) is drawn as often as 1/(r+1);
//   - the first group holds LargestGroupGrants project grants (default
//     bulkSkewLargestGroup), distinct (project, permission) pairs drawn
//     uniformly over every project, from a stream of their own: the grants
//     of a smaller size are the first ones of a larger size, and the rest
//     of the dataset does not depend on the size;
//   - the other groups' project grants fall on a group drawn with the
//     same heavy tail as memberships (so the second group holds several
//     thousand at 200,000 grants and most hold a few dozen), each in a
//     project drawn uniformly over all projects, not in a window;
//   - users' project grants fall on projects drawn with a heavy tail: the
//     project at index i (from 0) with probability about that of
//     floor(Projects×u^bulkSkewProjectPower), u uniform, so that the
//     first projects hold about a thousand grants each at 200,000 grants.
//
// Global grants and the one-in-4 share of group grants are as in the
// uniform shape.
const (
	bulkSkewLargestGroup = 5000
	bulkSkewProjectPower = 1.7
	// bulkSkewLargestStream is xored into the seed for the stream of the
	// first group's grants.
	bulkSkewLargestStream = 0x6c617267657374 // "largest"
)

// bulkSkewMembershipWeights are the weights of 0, 1, 2, 3 and 4 groups per
// user, in tenths.
var bulkSkewMembershipWeights = [...]int{1, 3, 3, 2, 1}

// skewedDraws draws the skewed shape's groups and projects.
type skewedDraws struct {
	projects int
	// groupCum is the cumulative weight of the groups, 1/(r+1) each.
	groupCum []float64
	// largest holds the first group's grants as slots: project index ×
	// the projects app's permission count + permission index.
	largest []int
}

func newSkewedDraws(s BulkSpec, perms int) *skewedDraws {
	d := &skewedDraws{projects: s.Projects, groupCum: harmonicCum(s.Groups)}
	n := s.LargestGroupGrants
	if n == 0 {
		n = bulkSkewLargestGroup
	}
	slots := s.Projects * perms
	n = min(n, slots, s.Grants)
	// A partial Fisher-Yates shuffle of every slot: n distinct slots,
	// each n a prefix of a larger n.
	rng := &splitMix64{state: s.Seed ^ bulkSkewLargestStream}
	all := make([]int, slots)
	for i := range all {
		all[i] = i
	}
	for i := range n {
		j := i + rng.intn(slots-i)
		all[i], all[j] = all[j], all[i]
	}
	d.largest = all[:n]
	return d
}

// harmonicCum returns the cumulative weights 1, 1+1/2, 1+1/2+1/3, … of n
// ranks.
func harmonicCum(n int) []float64 {
	cum := make([]float64, n)
	total := 0.0
	for r := range n {
		total += 1 / float64(r+1)
		cum[r] = total
	}
	return cum
}

// drawRank draws a rank with the weights of cum.
func drawRank(rng *splitMix64, cum []float64) int {
	u := unitFloat(rng) * cum[len(cum)-1]
	return min(sort.SearchFloat64s(cum, u), len(cum)-1)
}

// unitFloat returns a number in [0, 1) from 53 bits of rng.
func unitFloat(rng *splitMix64) float64 {
	return float64(rng.next()>>11) / (1 << 53)
}

// group draws the holder of a group grant other than the first group's
// (all of whose grants are made already): a rank of the heavy tail,
// redrawn while it is the first group's.
func (d *skewedDraws) group(rng *splitMix64) int {
	if len(d.groupCum) == 1 {
		return 0
	}
	for {
		if g := drawRank(rng, d.groupCum); g != 0 {
			return g
		}
	}
}

// project draws the project index of a project grant: uniform for a
// group's, heavy-tailed for a user's.
func (d *skewedDraws) project(rng *splitMix64, byGroup bool) int {
	if byGroup {
		return rng.intn(d.projects)
	}
	return min(int(float64(d.projects)*math.Pow(unitFloat(rng), bulkSkewProjectPower)), d.projects-1)
}

// skewedMemberships draws the groups of one user of the skewed shape.
// cum is harmonicCum(groups).
func skewedMemberships(rng *splitMix64, cum []float64, user, groupBase int64) [][]any {
	groups := len(cum)
	if groups == 0 {
		return nil
	}
	w := rng.intn(10)
	n := 0
	for w >= bulkSkewMembershipWeights[n] {
		w -= bulkSkewMembershipWeights[n]
		n++
	}
	n = min(n, groups)
	chosen := make(map[int]bool, n)
	var rows [][]any
	for len(rows) < n {
		g := drawRank(rng, cum)
		if !chosen[g] {
			chosen[g] = true
			rows = append(rows, []any{user, groupBase + int64(g) + 1})
		}
	}
	return rows
}
