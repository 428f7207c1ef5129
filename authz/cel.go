package authz

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/ast"
	"github.com/google/cel-go/common/operators"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/common/types/traits"
	"github.com/google/cel-go/interpreter"
)

// Declarative rules are CEL expressions (github.com/google/cel-go) kept in
// a RuleStore. An expression sees:
//
//	user     map: id int, username string, isSuperuser bool, groups list(string)
//	project  map: id int, name string (id 0 and name "" for a global check)
//	object   map: type string, id string, attributes map(string, dyn)
//	hasPerm(perm string) bool
//
// hasPerm checks another permission for the same user in the same project
// on the same object, rules included, and pulls that check's log lines into
// this one (RuleContext.Check). An expression must be of type bool, or dyn
// (object.attributes.published, say), in which case a value other than a
// bool at run time is an evaluation error. The engine writes the line
// "Rule <id>: <expression>", untagged, on the rule's behalf before
// evaluating it, so that the log says which rule decided.

// Rule limits: a rule is a condition, not a program. MaxRuleExpressionLen
// leaves room for a long condition over a dozen attributes;
// MaxRuleDescriptionLen for a paragraph.
const (
	MaxRuleExpressionLen  = 4096
	MaxRuleDescriptionLen = 1000
)

// celCostLimit bounds the work of one evaluation, in CEL cost units (about
// one per operation, per element a comprehension visits, and per element
// `in` or a comparison reads; celCallCost): a condition over a user's
// groups and an object's attributes costs some hundreds, and 100,000 stops
// an expression that iterates over something large long before it holds
// up a check.
const celCostLimit = 100_000

// celCallCost prices the calls that CEL resolves only at run time, whose
// arguments are dyn (the attributes of an object are a map(string, dyn)):
// cel-go's tracker prices a call by its overload, and such a call has
// none, so it would cost 1 whatever it reads — `'q' in
// object.attributes.l` read a 50,000-element list for one unit, and two
// nested comprehensions around it ran 200 times the limit. A call
// resolved at run time costs as many units as its largest argument has
// elements (a list's or a map's) or bytes (a string's), `in` over a map
// one; a call resolved when the rule compiled keeps cel-go's price.
type celCallCost struct{}

func (celCallCost) CallCost(function, overloadID string, args []ref.Val, _ ref.Val) *uint64 {
	if overloadID != "" {
		return nil
	}
	cost := uint64(1)
	if function == operators.In && len(args) == 2 {
		if _, isMap := args[1].(traits.Mapper); isMap {
			return &cost
		}
		cost = max(cost, celSize(args[1]))
		return &cost
	}
	for _, a := range args {
		cost = max(cost, celSize(a))
	}
	return &cost
}

// celSize is the size of a value for celCallCost: the elements of a list
// or map, the bytes of a string or bytes, 1 for anything else.
func celSize(v ref.Val) uint64 {
	switch v := v.(type) {
	case types.String:
		return uint64(len(v))
	case types.Bytes:
		return uint64(len(v))
	case traits.Sizer:
		if n, ok := v.Size().(types.Int); ok && n > 0 {
			return uint64(n)
		}
	}
	return 1
}

// celEvalSteps is what an evaluation costs the request's budget of rule
// steps (WithRuleSteps) besides its CEL steps: the work of starting it,
// some hundred times that of a step, so that rules that check each other
// in nested comprehensions, each evaluation cheap, still spend the budget
// at the pace they spend time.
const celEvalSteps = 100

// celInterruptEvery makes an evaluation notice a cancelled context after
// this many comprehension iterations.
const celInterruptEvery = 100

// hasPerm is a macro that passes the evaluation's rule context, a hidden
// variable, to the function that does the work: CEL functions are bound
// once per environment, and the rule context differs per evaluation.
const (
	celRuleVar    = "__grantql_rule"
	celHasPermFn  = "__grantql_hasPerm"
	celHasPermDoc = "hasPerm(perm) takes one permission name, a string"
)

// celEnv returns the environment every rule compiles in, built once.
func celEnv() (*cel.Env, error) {
	celEnvOnce.Do(func() {
		celEnvValue, celEnvErr = cel.NewEnv(
			cel.Variable("user", cel.MapType(cel.StringType, cel.DynType)),
			cel.Variable("project", cel.MapType(cel.StringType, cel.DynType)),
			cel.Variable("object", cel.MapType(cel.StringType, cel.DynType)),
			cel.Variable(celRuleVar, cel.DynType),
			cel.Macros(cel.GlobalMacro("hasPerm", 1, expandHasPerm)),
			cel.Function(celHasPermFn, cel.Overload("grantql_has_perm_dyn_string",
				[]*cel.Type{cel.DynType, cel.StringType}, cel.BoolType, cel.BinaryBinding(celHasPerm))),
		)
	})
	return celEnvValue, celEnvErr
}

var (
	celEnvOnce  sync.Once
	celEnvValue *cel.Env
	celEnvErr   error
)

// expandHasPerm rewrites hasPerm(p) into the call that receives the rule
// context. A literal that is not a string is refused here, so that the
// compiler's message names hasPerm rather than the hidden function.
func expandHasPerm(eh cel.MacroExprFactory, _ ast.Expr, args []ast.Expr) (ast.Expr, *cel.Error) {
	if a := args[0]; a.Kind() == ast.LiteralKind {
		if _, ok := a.AsLiteral().(types.String); !ok {
			return nil, eh.NewError(a.ID(), celHasPermDoc)
		}
	}
	return eh.NewCall(celHasPermFn, eh.NewIdent(celRuleVar), args[0]), nil
}

// celCall carries one evaluation's rule context into hasPerm, as the value
// of the hidden variable.
type celCall struct {
	rc *RuleContext
	// fatal is a storage failure met by hasPerm: it fails the check
	// rather than deny it.
	fatal error
}

var celCallType = types.NewOpaqueType("grantql.RuleContext")

func (c *celCall) ConvertToNative(reflect.Type) (any, error) {
	return nil, errors.New("the rule context has no native value")
}
func (c *celCall) ConvertToType(ref.Type) ref.Val {
	return types.NewErr("the rule context converts to nothing")
}
func (c *celCall) Equal(other ref.Val) ref.Val { return types.Bool(other == ref.Val(c)) }
func (c *celCall) Type() ref.Type              { return celCallType }
func (c *celCall) Value() any                  { return c }

// celHasPerm is hasPerm's implementation.
func celHasPerm(rule, perm ref.Val) ref.Val {
	call, ok := rule.(*celCall)
	if !ok {
		return types.NewErr("hasPerm: no rule context")
	}
	p, ok := perm.(types.String)
	if !ok {
		return types.NewErr("%s, not a %s", celHasPermDoc, perm.Type().TypeName())
	}
	allowed, err := call.rc.Check(string(p))
	if err != nil {
		if errors.Is(err, ErrUnavailable) {
			call.fatal = err
		}
		return types.NewErr("hasPerm(%q): %v", string(p), err)
	}
	return types.Bool(allowed)
}

// compileRule parses and type-checks expr, and plans its program. A bad
// expression is an ErrInvalidInput error with the compiler's message.
func compileRule(expr string) (cel.Program, error) {
	if strings.TrimSpace(expr) == "" {
		return nil, invalid("rule expression must not be empty")
	}
	if n := utf8.RuneCountInString(expr); n > MaxRuleExpressionLen {
		return nil, invalid("rule expression is %d characters long, at most %d are allowed", n, MaxRuleExpressionLen)
	}
	env, err := celEnv()
	if err != nil {
		return nil, fmt.Errorf("build the CEL environment: %w", err)
	}
	checked, iss := env.Compile(expr)
	if iss.Err() != nil {
		return nil, invalid("rule expression does not compile: %s", iss.Err())
	}
	if t := checked.OutputType(); !t.IsExactType(cel.BoolType) && !t.IsExactType(cel.DynType) {
		return nil, invalid("rule expression must be a bool, and this one is a %s", t)
	}
	prg, err := env.Program(checked, cel.CostTracking(celCallCost{}), cel.CostLimit(celCostLimit),
		cel.InterruptCheckFrequency(celInterruptEvery))
	if err != nil {
		return nil, invalid("rule expression does not compile: %v", err)
	}
	return prg, nil
}

// CompileRule type-checks a rule expression: nil when it compiles to a
// bool, and an ErrInvalidInput error with the compiler's message otherwise.
func (e *Engine) CompileRule(expr string) error {
	_, err := compileRule(expr)
	return err
}

// storedRule is a stored rule with its program: compiled once, when the
// engine first reads the rule, and reused until its expression changes.
type storedRule struct {
	StoredRule
	prg cel.Program
	err error // why the expression does not compile; the rule denies
}

func compileStored(r StoredRule) *storedRule {
	prg, err := compileRule(r.Expression)
	return &storedRule{StoredRule: r, prg: prg, err: err}
}

// eval is the stored rule as a Rule.
func (sr *storedRule) eval(ctx context.Context, rc *RuleContext) (bool, error) {
	rc.Log("Rule " + strconv.FormatInt(sr.ID, 10) + ": " + sr.Expression)
	if sr.err != nil {
		return false, sr.err
	}
	call := &celCall{rc: rc}
	attrs := rc.Object.Attributes
	if attrs == nil {
		attrs = map[string]any{}
	}
	// user and project are lazy: an expression that names neither costs
	// no statement.
	vars := map[string]any{
		"user": func() any {
			u := rc.User()
			groups := u.Groups
			if groups == nil {
				groups = []string{}
			}
			return map[string]any{"id": u.ID, "username": u.Username, "isSuperuser": u.IsSuperuser, "groups": groups}
		},
		"project": func() any {
			p := rc.Project()
			return map[string]any{"id": p.ID, "name": p.Name}
		},
		"object":   map[string]any{"type": rc.Object.Type, "id": rc.Object.ID, "attributes": attrs},
		celRuleVar: call,
	}
	e := rc.run.e
	budget := rc.run.budget
	if spent := budget.ruleSteps.Load(); spent >= e.ruleSteps {
		return false, fmt.Errorf("not evaluated: the rules of this request have taken %d steps, and one request's rules may take at most %d", spent, e.ruleSteps)
	}
	// The time of the outermost evaluations counts against the request's,
	// which includes that of the rules they check.
	outermost := len(rc.run.stack) == 1
	timeout := e.ruleTimeout
	if outermost {
		spent := time.Duration(budget.ruleTime.Load())
		if spent >= e.ruleRequestTime {
			return false, fmt.Errorf("not evaluated: the rules of this request have run for %s, and one request's rules may run at most %s",
				spent.Round(time.Millisecond), e.ruleRequestTime)
		}
		timeout = min(timeout, e.ruleRequestTime-spent)
	}
	start := time.Now()
	ectx, cancel := context.WithTimeout(ctx, timeout)
	out, details, err := sr.prg.ContextEval(ectx, vars)
	cancel()
	if outermost {
		budget.ruleTime.Add(int64(time.Since(start)))
	}
	var cancelled interpreter.EvalCancelledError
	switch cost := details.ActualCost(); {
	case cost != nil:
		budget.ruleSteps.Add(celEvalSteps + *cost)
	case errors.As(err, &cancelled) && cancelled.Cause == interpreter.CostLimitExceeded:
		budget.ruleSteps.Add(celEvalSteps + celCostLimit)
	default:
		budget.ruleSteps.Add(celEvalSteps)
	}
	if call.fatal != nil {
		return false, call.fatal
	}
	if rc.err != nil {
		return false, rc.err
	}
	if err != nil {
		if stopped := interrupted(ctx); stopped != nil {
			// The request's own deadline: no decision, as when the
			// database does not answer in time.
			return false, stopped
		}
		if errors.As(err, &cancelled) && cancelled.Cause == interpreter.CostLimitExceeded {
			return false, fmt.Errorf("stopped after %d steps, the most one evaluation may take", celCostLimit)
		}
		if errors.Is(ectx.Err(), context.DeadlineExceeded) {
			if timeout < e.ruleTimeout {
				return false, fmt.Errorf("stopped: the rules of this request had run for %s, the most one request's rules may run",
					e.ruleRequestTime)
			}
			return false, fmt.Errorf("stopped after running %s, the longest one evaluation may run", e.ruleTimeout)
		}
		return false, err
	}
	allowed, ok := out.Value().(bool)
	if !ok {
		return false, fmt.Errorf("the expression is a %s, want a bool", out.Type().TypeName())
	}
	return allowed, nil
}

// errNoRuleStore answers rule management on an engine without WithRuleStore.
var errNoRuleStore = &categorized{msg: "this engine has no rule store: declarative rules are not available", category: ErrUnavailable}

// CreateRule stores a declarative rule after checking that its permission
// exists, its object type is valid, its expression compiles to a bool, and
// no other rule, Go or stored, decides the same permission on the same
// type (ErrConflict). The engine sees the rule at once; other instances
// within ruleReloadInterval.
func (e *Engine) CreateRule(ctx context.Context, r StoredRule) (StoredRule, error) {
	s := e.rules
	if s.store == nil {
		return StoredRule{}, errNoRuleStore
	}
	if _, err := e.registry.Lookup(ctx, r.Perm); err != nil {
		return StoredRule{}, err
	}
	if err := validateObjectType(r.ObjectType); err != nil {
		return StoredRule{}, err
	}
	if n := utf8.RuneCountInString(r.Description); n > MaxRuleDescriptionLen {
		return StoredRule{}, invalid("rule description is %d characters long, at most %d are allowed", n, MaxRuleDescriptionLen)
	}
	if err := e.CompileRule(r.Expression); err != nil {
		return StoredRule{}, err
	}
	if s.hasGoRule(ruleKey{r.Perm, r.ObjectType}) {
		return StoredRule{}, Conflict("a Go rule decides %s on %s already", r.Perm, r.ObjectType)
	}
	created, err := write(ctx, nil, func() (StoredRule, error) { return s.store.CreateRule(ctx, r) })
	if err != nil {
		return StoredRule{}, fmt.Errorf("create rule for %s on %s: %w", r.Perm, r.ObjectType, err)
	}
	return created, s.refresh(ctx, true)
}

// DeleteRule deletes a stored rule; false when there was none. The engine
// stops applying it at once; other instances within ruleReloadInterval.
func (e *Engine) DeleteRule(ctx context.Context, id int64) (bool, error) {
	s := e.rules
	if s.store == nil {
		return false, errNoRuleStore
	}
	ok, err := write(ctx, nil, func() (bool, error) { return s.store.DeleteRule(ctx, id) })
	if err != nil {
		return false, fmt.Errorf("delete rule %d: %w", id, err)
	}
	return ok, s.refresh(ctx, true)
}

// Rules returns the stored rules, as the store has them now, and updates
// the engine's copy with them.
func (e *Engine) Rules(ctx context.Context) ([]StoredRule, error) {
	s := e.rules
	if s.store == nil {
		return nil, errNoRuleStore
	}
	s.reload.Lock()
	defer s.reload.Unlock()
	rules, err := s.store.Rules(ctx)
	if err != nil {
		return nil, fmt.Errorf("list rules: %w", err)
	}
	s.replace(rules)
	return rules, nil
}
