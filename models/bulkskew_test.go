package models_test

import (
	"context"
	"testing"

	"github.com/grantql/grantql/internal/dbtest"
	"github.com/grantql/grantql/models"
)

// skewTestSpec is a small skewed dataset: its first group holds 600 of
// the 300 projects × 10 permissions, about a fifth.
var skewTestSpec = models.BulkSpec{Users: 400, Groups: 40, Projects: 300, Grants: 6000,
	Seed: 3, Shape: models.ShapeSkewed, LargestGroupGrants: 600}

// TestBulkLoadSkewed holds the skewed shape to what docs/benchmarks.md
// says of it, on both dialects: the first group holds exactly
// LargestGroupGrants project grants, more than any other group, in many
// projects that are not a window; every user is in 0 to 4 groups and each
// count occurs; some project holds many more grants than the average; and
// the same seed loads the same rows, which differ from the uniform shape's.
func TestBulkLoadSkewed(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, db *models.DB) {
		ctx := context.Background()
		st, err := db.BulkLoad(ctx, skewTestSpec)
		if err != nil {
			t.Fatal(err)
		}
		if st.Grants() != skewTestSpec.Grants {
			t.Errorf("loaded %d grants, want %d", st.Grants(), skewTestSpec.Grants)
		}
		var groups []struct {
			GroupID  int64
			Grants   int
			Projects int
			Span     int64
		}
		if err := db.Gorm.Raw(`SELECT ppg.group_id, COUNT(*) AS grants, COUNT(DISTINCT pp.project_id) AS projects,
       MAX(pp.project_id) - MIN(pp.project_id) AS span
  FROM project_permission_groups ppg JOIN project_permissions pp ON pp.id = ppg.project_permission_id
 GROUP BY ppg.group_id ORDER BY grants DESC, ppg.group_id`).Scan(&groups).Error; err != nil {
			t.Fatal(err)
		}
		if len(groups) < 2 {
			t.Fatalf("%d groups hold project grants, want most of %d", len(groups), skewTestSpec.Groups)
		}
		first := groups[0]
		if first.GroupID != st.FirstGroupID || first.Grants != skewTestSpec.LargestGroupGrants || groups[1].Grants >= first.Grants {
			t.Errorf("largest groups %+v, %+v: want group %d first with %d grants", first, groups[1], st.FirstGroupID, skewTestSpec.LargestGroupGrants)
		}
		if first.Projects < skewTestSpec.Projects/2 || first.Span < int64(skewTestSpec.Projects*9/10) {
			t.Errorf("the largest group's grants fall in %d projects spanning %d ids, want them spread over the %d projects", first.Projects, first.Span, skewTestSpec.Projects)
		}
		// A heavy tail: the smallest holders hold a small fraction of the second.
		if last := groups[len(groups)-1]; last.Grants*5 > groups[1].Grants {
			t.Errorf("group grants from %d down to %d: want a heavy tail", groups[1].Grants, last.Grants)
		}
		var perUser []struct{ N, Users int }
		if err := db.Gorm.Raw(`SELECT n, COUNT(*) AS users FROM (
  SELECT u.id, COUNT(ug.group_id) AS n FROM users u LEFT JOIN user_groups ug ON ug.user_id = u.id GROUP BY u.id) c
 GROUP BY n ORDER BY n`).Scan(&perUser).Error; err != nil {
			t.Fatal(err)
		}
		if len(perUser) != 5 {
			t.Errorf("users per group count %+v, want every count from 0 to 4", perUser)
		}
		for i, c := range perUser {
			if c.N != i {
				t.Errorf("users per group count %+v, want every count from 0 to 4 and no other", perUser)
			}
		}
		var hottest int
		if err := db.Gorm.Raw(`SELECT MAX(n) FROM (SELECT COUNT(*) AS n FROM project_permission_users ppu
  JOIN project_permissions pp ON pp.id = ppu.project_permission_id GROUP BY pp.project_id) c`).Scan(&hottest).Error; err != nil {
			t.Fatal(err)
		}
		if average := st.ProjectUserGrants / skewTestSpec.Projects; hottest < 5*average {
			t.Errorf("the hottest project holds %d user grants, the average %d: want a heavy tail", hottest, average)
		}

		sum, _ := fingerprint(t, db)
		again := dbtest.Open(t, db.Dialect)
		if _, err := again.BulkLoad(ctx, skewTestSpec); err != nil {
			t.Fatal(err)
		}
		if got, _ := fingerprint(t, again); got != sum {
			t.Errorf("the same skewed spec loaded different rows")
		}
		uniform := skewTestSpec
		uniform.Shape, uniform.MembershipsPerUser = models.ShapeUniform, 3
		other := dbtest.Open(t, db.Dialect)
		if _, err := other.BulkLoad(ctx, uniform); err != nil {
			t.Fatal(err)
		}
		if got, _ := fingerprint(t, other); got == sum {
			t.Errorf("the uniform shape loaded the skewed shape's rows")
		}
	})
}
