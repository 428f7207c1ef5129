package graph

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"time"

	"github.com/99designs/gqlgen/complexity"
	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/errcode"
	"github.com/grantql/grantql/authz"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
	"github.com/vektah/gqlparser/v2/parser"
)

// Limits bound what one request may ask of the service, so that a hostile
// or careless client cannot make it parse, plan or run without end. A
// request over a limit is refused with BAD_USER_INPUT before anything of
// it runs. A zero field takes its default.
type Limits struct {
	// Depth bounds how deeply selection sets nest (DefaultDepth); an
	// operation that only introspects has IntrospectionDepth instead.
	Depth int
	// Complexity bounds the cost of an operation (DefaultComplexity).
	Complexity int
	// ParserTokens bounds the tokens of a query document (DefaultParserTokens).
	ParserTokens int
	// BodyBytes bounds the body of a request (DefaultBodyBytes).
	BodyBytes int64
	// CheckMany bounds the checks of one operation, all its fields and
	// aliases together: the inputs of every checkMany, and every check,
	// hasPerm and hasProjectPerm field (DefaultCheckMany).
	CheckMany int
	// RequestTimeout bounds the time one request may take (DefaultRequestTimeout).
	RequestTimeout time.Duration
}

const (
	// DefaultDepth is the default of Limits.Depth. The depth of an
	// operation is the number of selection sets nested below its own,
	// fragments expanded: `{ viewer { id } }` is 1 deep. grantql's own
	// data nests some 6 deep (projects, edges, node, pages, edges, node);
	// 12 leaves room for a frontend's fragments. Introspection is measured
	// against bounds of its own (IntrospectionDepth, IntrospectionLists).
	DefaultDepth = 12
	// IntrospectionDepth bounds the depth of an operation that asks only
	// for introspection (__schema, __type, __typename), whatever
	// Limits.Depth says. GraphiQL's introspection query is 14 deep
	// (__schema, types, fields, args, type and nine levels of ofType in
	// graphql-js's TypeRef fragment), which a bound sized for grantql's
	// data refuses. Depth costs introspection little: ofType is one type,
	// not a list, and how deeply the schema's lists nest (fields {
	// type { fields ... } }, which multiply the answer) the validator bounds
	// by itself (graphql-js's MaxIntrospectionDepth rule: fields,
	// interfaces, possibleTypes and inputFields nest at most twice). 20
	// leaves the TypeRef fragment room to grow, as it has before.
	IntrospectionDepth = 20
	// DefaultComplexity is the default of Limits.Complexity. Every field
	// costs 1 plus its selection, and a field with a `first` argument
	// costs first times its selection, so 1,000 allows a page of 100
	// items of eight fields (100 times edges, node and the eight), or 20
	// projects with 10 pages each, but not 20 pages of each of 20
	// projects (some 1,600), let alone 100 of 100: what one response of a
	// few hundred items costs the database and the guard.
	DefaultComplexity = 1000
	// DefaultParserTokens is the default of Limits.ParserTokens. A
	// frontend's largest documents hold a few thousand tokens (GraphiQL's
	// introspection query 163), and a checkMany of DefaultCheckMany checks
	// written inline rather than passed as a variable some 8,000, or
	// 31,000 with objects and their attributes; 50,000 leaves room for
	// all of them, and parses in tens of milliseconds. (What validating a
	// document costs beyond its size, maxMergeComparisons bounds.)
	DefaultParserTokens = 50000
	// DefaultBodyBytes is the default of Limits.BodyBytes: 1 MiB holds a
	// full checkMany with object attributes many times over.
	DefaultBodyBytes = 1 << 20
	// DefaultCheckMany is the default of Limits.CheckMany (see
	// maxCheckMany): a frontend's page asks for some dozens of checks and
	// a backend's batch for up to a thousand, which answer in tens of
	// milliseconds; five hundred aliases of such a batch, half a million
	// checks, took seconds and gigabytes before the bound counted every
	// alias.
	DefaultCheckMany = maxCheckMany
	// DefaultRequestTimeout is the default of Limits.RequestTimeout: a cold
	// check takes milliseconds, so a request still running after ten
	// seconds is waiting on a database that does not answer, and its
	// client is better told UNAVAILABLE.
	DefaultRequestTimeout = 10 * time.Second
)

// withDefaults returns l with every zero field set to its default.
func (l Limits) withDefaults() Limits {
	if l.Depth == 0 {
		l.Depth = DefaultDepth
	}
	if l.Complexity == 0 {
		l.Complexity = DefaultComplexity
	}
	if l.ParserTokens == 0 {
		l.ParserTokens = DefaultParserTokens
	}
	if l.BodyBytes == 0 {
		l.BodyBytes = DefaultBodyBytes
	}
	if l.CheckMany == 0 {
		l.CheckMany = DefaultCheckMany
	}
	if l.RequestTimeout == 0 {
		l.RequestTimeout = DefaultRequestTimeout
	}
	return l
}

// The names of the limits, as LimitError.Limit and extensions.limit.
const (
	LimitDepth          = "depth"
	LimitComplexity     = "complexity"
	LimitBody           = "body"
	LimitCheckMany      = "checkMany"
	LimitIntrospection  = "introspection"
	LimitRepeatedFields = "repeatedFields"
)

// LimitError reports a request over one of the service's limits; nothing
// of the request ran. The error presenter gives it the code BAD_USER_INPUT
// and the extensions limit and max.
type LimitError struct {
	Limit string // one of the Limit* names
	Max   int64  // the limit
	Got   int64  // what the request asked for; 0 when it is not known
	// Whole says that the checks of the whole operation, not of one
	// checkMany alone, are over LimitCheckMany.
	Whole bool
}

func (e *LimitError) Error() string {
	switch e.Limit {
	case LimitDepth:
		return fmt.Sprintf("the operation is %d selection sets deep; the limit is %d", e.Got, e.Max)
	case LimitComplexity:
		return fmt.Sprintf("the operation has complexity %d; the limit is %d (a field with `first` costs first times its selection)", e.Got, e.Max)
	case LimitBody:
		return fmt.Sprintf("the request body is larger than the limit of %d bytes", e.Max)
	case LimitCheckMany:
		if e.Whole {
			return fmt.Sprintf("the operation asks for %d checks (the inputs of every checkMany, and every check, hasPerm and hasProjectPerm field, aliases included); the limit is %d", e.Got, e.Max)
		}
		return fmt.Sprintf("checkMany takes at most %d checks, got %d", e.Max, e.Got)
	case LimitIntrospection:
		return "introspection is turned off on this server"
	case LimitRepeatedFields:
		return fmt.Sprintf("validating the document would take more than %d comparisons of its fields and fragments: it repeats fields of one name, or spreads many fragments in one selection; ask for each field once", e.Max)
	}
	return fmt.Sprintf("the request is over the %s limit of %d", e.Limit, e.Max)
}

// limitsExtension refuses, before anything runs, an operation that is too
// deep, too complex, introspects when introspection is off, or asks for
// more checks than the limit, all its fields and aliases together.
type limitsExtension struct {
	limits        Limits
	introspection bool
	schema        graphql.ExecutableSchema
}

var _ interface {
	graphql.HandlerExtension
	graphql.OperationContextMutator
} = (*limitsExtension)(nil)

func (*limitsExtension) ExtensionName() string { return "GrantqlLimits" }

func (e *limitsExtension) Validate(schema graphql.ExecutableSchema) error {
	e.schema = schema
	return nil
}

func (e *limitsExtension) MutateOperationContext(ctx context.Context, opCtx *graphql.OperationContext) *gqlerror.Error {
	return refusal(e.check(ctx, opCtx))
}

// refusal turns the error of a document refused before it runs into the
// executor's error.
func refusal(err error) *gqlerror.Error {
	if err == nil {
		return nil
	}
	out := gqlerror.WrapIfUnwrapped(err)
	// A validation failure's code makes the transport answer 422, as for
	// any other document refused before it runs; the presenter then gives
	// the error its own code.
	errcode.Set(out, errcode.ValidationFailed)
	return out
}

func (e *limitsExtension) check(ctx context.Context, opCtx *graphql.OperationContext) error {
	op := opCtx.Operation
	root := rootFields(op.SelectionSet, nil, map[string]bool{})
	introspection := true // the operation asks for introspection only
	for _, f := range root {
		switch f.Name {
		case "__schema", "__type":
			if !e.introspection {
				return &LimitError{Limit: LimitIntrospection}
			}
		case "__typename":
		default:
			introspection = false
		}
	}
	if op.Operation == ast.Query {
		if err := e.checkCount(root, opCtx.Variables); err != nil {
			return err
		}
	}
	s := measure(op.SelectionSet, map[string]shape{})
	maxDepth := e.limits.Depth
	if introspection {
		// Below __schema and __type there are only the schema's own
		// types: no resolver of grantql's runs.
		maxDepth = IntrospectionDepth
	}
	if s.depth > maxDepth {
		return &LimitError{Limit: LimitDepth, Max: int64(maxDepth), Got: int64(s.depth)}
	}
	// complexity.Calculate walks fragments once per spread, which takes
	// exponential time on fragments that spread each other twice: a
	// document whose fragments expand to more fields than the limit is
	// refused first, in time linear in its size. Every field outside
	// __schema costs at least 1, and no introspection query needs a
	// thousand fields (GraphiQL's expands to 220).
	if s.fields > e.limits.Complexity {
		return &LimitError{Limit: LimitComplexity, Max: int64(e.limits.Complexity), Got: int64(s.fields)}
	}
	if c := complexity.Calculate(ctx, e.schema, op, opCtx.Variables, complexity.WithIgnoreFields(freeFields)); c > e.limits.Complexity {
		return &LimitError{Limit: LimitComplexity, Max: int64(e.limits.Complexity), Got: int64(c)}
	}
	return nil
}

// freeFields cost nothing in an operation's complexity: a decision's
// answer comes with its check, which the bound of checks counts.
var freeFields = map[string]struct{}{"Decision.allowed": {}, "Decision.permission": {}, "Decision.reason": {}}

// checkFields are the fields of Query that each make one check.
var checkFields = map[string]bool{"check": true, "hasPerm": true, "hasProjectPerm": true}

// checkCount refuses an operation whose root fields ask for more checks
// than the limit, all together: a checkMany costs its inputs, and check,
// hasPerm and hasProjectPerm one each, under every alias. Fields that
// @skip or @include would leave out count too, as do two selections the
// executor would merge: the count is an upper bound, made before anything
// runs. The error's path is the field at which the count passed the
// limit.
func (e *limitsExtension) checkCount(root []*ast.Field, vars map[string]any) error {
	total := 0
	for _, f := range root {
		n := 0
		switch {
		case f.Name == "checkMany":
			inputs, _ := f.ArgumentMap(vars)["inputs"].([]any)
			n = len(inputs)
		case checkFields[f.Name]:
			n = 1
		}
		total = saturatingAdd(total, n)
		if total > e.limits.CheckMany {
			return gqlerror.WrapPath(ast.Path{ast.PathName(f.Alias)},
				&LimitError{Limit: LimitCheckMany, Max: int64(e.limits.CheckMany), Got: int64(total), Whole: total != n})
		}
	}
	return nil
}

// shape is what measure finds in a selection set: how deeply selection
// sets nest below it, and how many fields it holds with its fragments
// expanded (saturating at math.MaxInt).
type shape struct {
	depth, fields int
}

// measure returns the shape of set. It measures each named fragment once
// (memo), so that a document whose fragments spread each other many times
// costs time in proportion to its text, not to its expansion; the
// validator has already refused cycles of fragments.
func measure(set ast.SelectionSet, memo map[string]shape) shape {
	var out shape
	for _, sel := range set {
		var s shape
		switch sel := sel.(type) {
		case *ast.Field:
			s = shape{fields: 1}
			if len(sel.SelectionSet) > 0 {
				child := measure(sel.SelectionSet, memo)
				s = shape{depth: child.depth + 1, fields: saturatingAdd(child.fields, 1)}
			}
		case *ast.InlineFragment:
			s = measure(sel.SelectionSet, memo)
		case *ast.FragmentSpread:
			var ok bool
			if s, ok = memo[sel.Name]; !ok && sel.Definition != nil {
				s = measure(sel.Definition.SelectionSet, memo)
				memo[sel.Name] = s
			}
		}
		out.depth = max(out.depth, s.depth)
		out.fields = saturatingAdd(out.fields, s.fields)
	}
	return out
}

// rootFields appends to out the fields of an operation's own selection set,
// looking through fragments, each named one once (as the executor collects
// them).
func rootFields(set ast.SelectionSet, out []*ast.Field, spread map[string]bool) []*ast.Field {
	for _, sel := range set {
		switch sel := sel.(type) {
		case *ast.Field:
			out = append(out, sel)
		case *ast.InlineFragment:
			out = rootFields(sel.SelectionSet, out, spread)
		case *ast.FragmentSpread:
			if sel.Definition != nil && !spread[sel.Name] {
				spread[sel.Name] = true
				out = rootFields(sel.Definition.SelectionSet, out, spread)
			}
		}
	}
	return out
}

// pagedSchema is the executable schema with the cost of paginated fields:
// a field that takes a `first` argument costs first times its selection,
// since it runs its selection once per item. first is taken between 1 and
// authz.MaxPageSize, so that a value the resolver refuses gets the
// resolver's clearer error rather than a complexity error; absent or null,
// it is authz.DefaultPageSize, as in the resolvers. The rule needs no
// per-field function: every connection of the schema, and any added later,
// is costed the same way. checkMany is costed the same way, its inputs
// counting as first: a checkMany of N inputs costs N times its selection
// (at least 1), where a Decision's answer costs nothing (freeFields) and
// its log costs as any object, so that a thousand checks asking for their
// answers cost a thousand, and asking for their logs too costs more.
type pagedSchema struct {
	graphql.ExecutableSchema
}

func (s pagedSchema) Complexity(ctx context.Context, typeName, field string, childComplexity int, args map[string]any) (int, bool) {
	if c, ok := s.ExecutableSchema.Complexity(ctx, typeName, field, childComplexity, args); ok {
		return c, true
	}
	if typeName == "Query" && field == "checkMany" {
		// Like a page of first items: its selection runs once per input.
		inputs, _ := args["inputs"].([]any)
		return saturatingMul(max(len(inputs), 1), max(childComplexity, 1)), true
	}
	def := s.Schema().Types[typeName]
	if def == nil {
		return 0, false
	}
	fd := def.Fields.ForName(field)
	if fd == nil || fd.Arguments.ForName("first") == nil {
		return 0, false
	}
	first := authz.DefaultPageSize
	if n, ok := intArg(args["first"]); ok {
		first = int(min(max(n, 1), authz.MaxPageSize))
	}
	return saturatingMul(first, max(childComplexity, 1)), true
}

// intArg returns an Int argument's value as the parser or the variables'
// decoder left it.
func intArg(v any) (int64, bool) {
	switch v := v.(type) {
	case int:
		return int64(v), true
	case int32:
		return int64(v), true
	case int64:
		return v, true
	case json.Number:
		n, err := v.Int64()
		return n, err == nil
	}
	return 0, false
}

func saturatingAdd(a, b int) int {
	if a > math.MaxInt-b {
		return math.MaxInt
	}
	return a + b
}

func saturatingMul(a, b int) int {
	if a != 0 && b > math.MaxInt/a {
		return math.MaxInt
	}
	return a * b
}

// maxMergeComparisons bounds the work of validating one document. The
// rule that fields of one response name must merge compares every pair of
// them in a selection set, and then their selections with each other, and
// so on down: thirty `viewer { id ... }` of thirty `id`s each, under a
// thousand tokens, take the validator a second, and nesting makes it
// exponential, so neither the token nor the depth limit bounds it. A real
// client repeats a field a few times, where its fragments overlap, which
// takes tens or hundreds of comparisons; 20,000 keeps the validation of
// any accepted document to milliseconds.
const maxMergeComparisons = 20000

// mergeGuard refuses, before gqlgen validates it, a document whose
// validation would take more than maxMergeComparisons comparisons of
// fields. It parses the document itself (documents in the query cache
// were validated already and pass at once) and leaves a document that
// does not parse, or whose fragments spread each other in a cycle, to the
// validator's own errors.
type mergeGuard struct {
	cache        graphql.Cache[*ast.QueryDocument]
	parserTokens int
}

var _ interface {
	graphql.HandlerExtension
	graphql.OperationParameterMutator
} = (*mergeGuard)(nil)

func (*mergeGuard) ExtensionName() string                   { return "GrantqlMergeGuard" }
func (*mergeGuard) Validate(graphql.ExecutableSchema) error { return nil }

func (g *mergeGuard) MutateOperationParameters(ctx context.Context, params *graphql.RawParams) *gqlerror.Error {
	if _, ok := g.cache.Get(ctx, params.Query); ok {
		return nil
	}
	doc, err := parser.ParseQueryWithTokenLimit(&ast.Source{Input: params.Query}, g.parserTokens)
	if err != nil || fragmentCycle(doc) {
		return nil
	}
	// Collecting the fields of each selection set is work in proportion
	// to the document, which the token limit bounds: the budget allows
	// for it, so that only repetition counts against maxMergeComparisons.
	m := mergeCounter{fragments: map[string]*ast.FragmentDefinition{}, budget: maxMergeComparisons}
	for _, op := range doc.Operations {
		m.budget += 3 * selections(op.SelectionSet)
	}
	for _, f := range doc.Fragments {
		m.fragments[f.Name] = f
		m.budget += 3 * selections(f.SelectionSet)
	}
	for _, op := range doc.Operations {
		m.set(op.SelectionSet)
	}
	for _, f := range doc.Fragments {
		m.set(f.SelectionSet)
	}
	if m.steps > m.budget {
		return refusal(&LimitError{Limit: LimitRepeatedFields, Max: maxMergeComparisons})
	}
	return nil
}

// mergeCounter counts, as steps, the comparisons the validator makes to
// check that fields merge, and the fields it collects for them, giving up
// once steps pass budget: its own work is bounded by the budget too.
type mergeCounter struct {
	fragments     map[string]*ast.FragmentDefinition
	steps, budget int
}

func (m *mergeCounter) over() bool { return m.steps > m.budget }

// fields appends to out the fields of set, looking through its fragments
// (each named one once, as the validator collects them).
func (m *mergeCounter) fields(set ast.SelectionSet, out []*ast.Field, spread map[string]bool) []*ast.Field {
	for _, sel := range set {
		if m.steps++; m.over() {
			return out
		}
		switch sel := sel.(type) {
		case *ast.Field:
			out = append(out, sel)
		case *ast.InlineFragment:
			out = m.fields(sel.SelectionSet, out, spread)
		case *ast.FragmentSpread:
			if f := m.fragments[sel.Name]; f != nil && !spread[sel.Name] {
				spread[sel.Name] = true
				out = m.fields(f.SelectionSet, out, spread)
			}
		}
	}
	return out
}

// set counts the comparisons within one selection set, and within the
// selections of its fields.
func (m *mergeCounter) set(set ast.SelectionSet) {
	spread := map[string]bool{}
	fields := m.fields(set, nil, spread)
	// The validator also compares every pair of the fragments spread
	// here with each other, whatever their fields.
	m.steps += len(spread) * (len(spread) - 1) / 2
	byName := map[string][]*ast.Field{}
	for _, f := range fields {
		byName[f.Alias] = append(byName[f.Alias], f)
	}
	for _, same := range byName {
		for i := range same {
			for j := i + 1; j < len(same) && !m.over(); j++ {
				m.pair(same[i], same[j])
			}
		}
	}
	for _, f := range fields {
		if len(f.SelectionSet) > 0 && !m.over() {
			m.set(f.SelectionSet)
		}
	}
}

// pair counts the comparison of two fields of one response name, and of
// their selections' fields with each other.
func (m *mergeCounter) pair(a, b *ast.Field) {
	if m.steps++; m.over() || len(a.SelectionSet) == 0 || len(b.SelectionSet) == 0 {
		return
	}
	aSpread, bSpread := map[string]bool{}, map[string]bool{}
	others := map[string][]*ast.Field{}
	for _, f := range m.fields(b.SelectionSet, nil, bSpread) {
		others[f.Alias] = append(others[f.Alias], f)
	}
	fields := m.fields(a.SelectionSet, nil, aSpread)
	// And every fragment spread in one selection with every one in the
	// other.
	m.steps += len(aSpread) * len(bSpread)
	for _, x := range fields {
		for _, y := range others[x.Alias] {
			if m.over() {
				return
			}
			m.pair(x, y)
		}
	}
}

// selections returns how many selections set holds, at every depth.
func selections(set ast.SelectionSet) int {
	n := len(set)
	for _, sel := range set {
		switch sel := sel.(type) {
		case *ast.Field:
			n += selections(sel.SelectionSet)
		case *ast.InlineFragment:
			n += selections(sel.SelectionSet)
		}
	}
	return n
}

// fragmentCycle reports whether some fragment of doc spreads itself,
// directly or through others, at any depth.
func fragmentCycle(doc *ast.QueryDocument) bool {
	spreads := map[string][]string{}
	for _, f := range doc.Fragments {
		spreads[f.Name] = spreadNames(f.SelectionSet, nil)
	}
	const (
		unvisited = iota
		visiting
		done
	)
	state := map[string]int{}
	var visit func(name string) bool
	visit = func(name string) bool {
		switch state[name] {
		case visiting:
			return true
		case done:
			return false
		}
		state[name] = visiting
		for _, next := range spreads[name] {
			if visit(next) {
				return true
			}
		}
		state[name] = done
		return false
	}
	for _, f := range doc.Fragments {
		if visit(f.Name) {
			return true
		}
	}
	return false
}

// spreadNames appends the names of the fragments spread anywhere in set.
func spreadNames(set ast.SelectionSet, out []string) []string {
	for _, sel := range set {
		switch sel := sel.(type) {
		case *ast.Field:
			out = spreadNames(sel.SelectionSet, out)
		case *ast.InlineFragment:
			out = spreadNames(sel.SelectionSet, out)
		case *ast.FragmentSpread:
			out = append(out, sel.Name)
		}
	}
	return out
}
