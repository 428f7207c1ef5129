package authz

// RuleReloadInterval exports ruleReloadInterval to the tests of package
// authz_test, which wait for it to see a rule created by another engine.
const RuleReloadInterval = ruleReloadInterval
