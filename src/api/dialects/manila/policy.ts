/**
 * Manila's policy, as an operator writes it in policy.json: rule name → rule. The built-in
 * defaults are Manila's (etc/manila/policy.json of the CG era): everything is
 * `rule:default` (admin or owner) except reset_status and force_delete, which are
 * `rule:admin_api`. A policy file replaces the rules it names and keeps the others; an action
 * with no rule falls back to `default`, as oslo.policy does.
 *
 * The rule language is oslo.policy's: `""` or `"@"` (always), `"!"` (never), `rule:NAME`,
 * `role:NAME`, `is_admin:True|False`, `project_id:%(project_id)s`, `user_id:%(user_id)s` (or
 * literals), combined with `and`, `or`, `not` and parentheses; or the older list form
 * `[["a", "b"], ["c"]]` (outer list or, inner lists and). A file that is not JSON, or a rule
 * that does not parse, stops the dialect from starting, so an operator never runs with a
 * policy other than the one they wrote. So does a rule that refers to itself, through any chain
 * of `rule:` (or `is_admin:`, which is the `context_is_admin` rule), or a chain of references
 * deeper than `ruleDepthMax`.
 *
 * Evaluation is memoized per decision: each named rule is evaluated at most once, so a file
 * whose rules refer to one rule many times (`a: rule:b or rule:b`, `b: rule:c or rule:c`, …)
 * costs the size of the file, not 2^depth.
 *
 * The target of every check is the caller's own project: a Strata token reaches only its own
 * project's resources, so `project_id:%(project_id)s` holds for every caller.
 */
import { readFileSync } from 'node:fs';
import type { Caller } from '../../../core/context.js';
import { StrataError } from '../../../lib/errors.js';

export const defaultRules: Readonly<Record<string, string>> = {
  context_is_admin: 'role:admin',
  admin_or_owner: 'is_admin:True or project_id:%(project_id)s',
  default: 'rule:admin_or_owner',
  admin_api: 'is_admin:True',

  'share:create': 'rule:default',
  'share:get': 'rule:default',
  'share:get_all': 'rule:default',
  'share:delete': 'rule:default',
  'share_type:index': 'rule:default',
  'share_type:show': 'rule:default',

  'consistency_group:create': 'rule:default',
  'consistency_group:delete': 'rule:default',
  'consistency_group:update': 'rule:default',
  'consistency_group:get': 'rule:default',
  'consistency_group:get_all': 'rule:default',
  'consistency_group:force_delete': 'rule:admin_api',
  'consistency_group:reset_status': 'rule:admin_api',

  'cgsnapshot:create': 'rule:default',
  'cgsnapshot:update': 'rule:default',
  'cgsnapshot:delete': 'rule:default',
  'cgsnapshot:get_cgsnapshot': 'rule:default',
  'cgsnapshot:get_all': 'rule:default',
  'cgsnapshot:force_delete': 'rule:admin_api',
  'cgsnapshot:reset_status': 'rule:admin_api',

  'share_group:create': 'rule:default',
  'share_group:delete': 'rule:default',
  'share_group:update': 'rule:default',
  'share_group:get': 'rule:default',
  'share_group:get_all': 'rule:default',
  'share_group:force_delete': 'rule:admin_api',
  'share_group:reset_status': 'rule:admin_api',

  'share_group_snapshot:create': 'rule:default',
  'share_group_snapshot:update': 'rule:default',
  'share_group_snapshot:delete': 'rule:default',
  'share_group_snapshot:get': 'rule:default',
  'share_group_snapshot:get_all': 'rule:default',
  'share_group_snapshot:force_delete': 'rule:admin_api',
  'share_group_snapshot:reset_status': 'rule:admin_api',
};

interface Credentials {
  roles: string[];
  project_id: string;
  user_id: string;
}

/** One decision: whose credentials, and the rules already evaluated for them. */
interface Decision {
  policy: Policy;
  credentials: Credentials;
  known: Map<string, boolean>;
}

type Check = (decision: Decision, depth: number) => boolean;

/** Longest chain of rule references a policy may have (the defaults have 3); longer is refused at load. */
export const ruleDepthMax = 32;

/** oslo.policy's tokenizer: words split on whitespace, with leading "(" and trailing ")" split off. */
function tokenize(text: string): string[] {
  const tokens: string[] = [];
  for (let word of text.split(/\s+/).filter(Boolean)) {
    while (word.startsWith('(')) {
      tokens.push('(');
      word = word.slice(1);
    }
    let closing = 0;
    while (word.endsWith(')') && !/%\([^)]*\)$/.test(word)) {
      closing++;
      word = word.slice(0, -1);
    }
    if (word.length > 0) tokens.push(word);
    for (let i = 0; i < closing; i++) tokens.push(')');
  }
  return tokens;
}

/** `references` collects the names of the rules a check evaluates. */
function parseCheck(token: string, references: Set<string>): Check {
  if (token === '@') return () => true;
  if (token === '!') return () => false;
  const colon = token.indexOf(':');
  if (colon <= 0) throw new Error(`"${token}" is not a check (KIND:MATCH, @ or !)`);
  const kind = token.slice(0, colon);
  const match = token.slice(colon + 1);
  switch (kind) {
    case 'rule':
      references.add(match);
      return (decision, depth) => decision.policy.evaluate(match, decision, depth + 1);
    case 'role':
      return ({ credentials }) => credentials.roles.includes(match.toLowerCase());
    case 'is_admin':
      // Manila's context.is_admin is the context_is_admin rule.
      references.add('context_is_admin');
      return (decision, depth) => (decision.policy.evaluate('context_is_admin', decision, depth + 1) ? 'true' : 'false') === match.toLowerCase();
    case 'project_id':
    case 'user_id': {
      // The target is the caller's own project and user (see the file comment).
      const target = (credentials: Credentials) => match.replace(/%\((project_id|user_id)\)s/g, (_all, key: 'project_id' | 'user_id') => credentials[key]);
      return ({ credentials }) => credentials[kind] === target(credentials);
    }
    default:
      throw new Error(`the check kind "${kind}" is not supported (rule, role, is_admin, project_id, user_id)`);
  }
}

/** Recursive descent: or → and → not → ( … ) | check. */
function parseExpression(text: string, references: Set<string>): Check {
  const tokens = tokenize(text);
  if (tokens.length === 0) return () => true;
  let at = 0;
  const peek = () => tokens[at];
  const next = () => tokens[at++];
  const parseOr = (): Check => {
    const parts = [parseAnd()];
    while (peek()?.toLowerCase() === 'or') {
      next();
      parts.push(parseAnd());
    }
    return parts.length === 1 ? parts[0] : (e, d) => parts.some((part) => part(e, d));
  };
  const parseAnd = (): Check => {
    const parts = [parseNot()];
    while (peek()?.toLowerCase() === 'and') {
      next();
      parts.push(parseNot());
    }
    return parts.length === 1 ? parts[0] : (e, d) => parts.every((part) => part(e, d));
  };
  const parseNot = (): Check => {
    if (peek()?.toLowerCase() === 'not') {
      next();
      const inner = parseNot();
      return (e, d) => !inner(e, d);
    }
    return parseAtom();
  };
  const parseAtom = (): Check => {
    const token = next();
    if (token === undefined) throw new Error('the rule ends too early');
    if (token === '(') {
      const inner = parseOr();
      if (next() !== ')') throw new Error('a "(" has no matching ")"');
      return inner;
    }
    if (token === ')' || ['or', 'and', 'not'].includes(token.toLowerCase())) throw new Error(`unexpected "${token}"`);
    return parseCheck(token, references);
  };
  const check = parseOr();
  if (at !== tokens.length) throw new Error(`unexpected "${tokens[at]}"`);
  return check;
}

function parseRule(name: string, rule: unknown, references: Set<string>): Check {
  try {
    if (typeof rule === 'string') return parseExpression(rule, references);
    // The list form: [["a", "b"], ["c"]] is (a and b) or c; [] is always.
    if (Array.isArray(rule) && rule.every((alt) => Array.isArray(alt) && alt.every((c) => typeof c === 'string'))) {
      if (rule.length === 0) return () => true;
      const alternatives = (rule as string[][]).map((alt) => alt.map((token) => parseCheck(token, references)));
      return (e, d) => alternatives.some((alt) => alt.every((check) => check(e, d)));
    }
    throw new Error('a rule is a string or a list of lists of strings');
  } catch (error) {
    throw new Error(`policy rule "${name}": ${(error as Error).message}`);
  }
}

/**
 * Refuses a rule that reaches itself through its references, and chains of references longer
 * than ruleDepthMax. Depth-first, each rule visited once: the file's size, whatever its shape.
 */
function checkReferences(references: Map<string, Set<string>>): void {
  /** Absent: not visited; null: on the current path; a number: the longest chain from it. */
  const depthOf = new Map<string, number | null>();
  const visit = (name: string, path: string[]): number => {
    const known = depthOf.get(name);
    if (known === null) throw new Error(`policy rule "${name}" refers to itself: ${[...path.slice(path.indexOf(name)), name].map((n) => `rule:${n}`).join(' → ')}`);
    if (known !== undefined) return known;
    if (path.length > ruleDepthMax) throw new Error(`policy rule "${path[0]}": rule references are nested deeper than ${ruleDepthMax}`);
    depthOf.set(name, null);
    let depth = 0;
    for (const next of references.get(name) ?? []) if (references.has(next)) depth = Math.max(depth, 1 + visit(next, [...path, name]));
    if (depth > ruleDepthMax) throw new Error(`policy rule "${name}": rule references are nested deeper than ${ruleDepthMax}`);
    depthOf.set(name, depth);
    return depth;
  };
  for (const name of references.keys()) visit(name, []);
}

export class Policy {
  private readonly rules = new Map<string, Check>();

  constructor(rules: Record<string, unknown>) {
    const references = new Map<string, Set<string>>();
    for (const [name, rule] of Object.entries(rules)) {
      const named = new Set<string>();
      this.rules.set(name, parseRule(name, rule, named));
      references.set(name, named);
    }
    checkReferences(references);
  }

  /** The defaults with the operator's file laid over them (a missing path: the defaults alone). */
  static load(path: string | undefined): Policy {
    if (path === undefined) return new Policy(defaultRules);
    let parsed: unknown;
    try {
      parsed = JSON.parse(readFileSync(path, 'utf8'));
    } catch (error) {
      throw new Error(`Manila policy file ${path}: ${(error as Error).message}`);
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error(`Manila policy file ${path}: expected a JSON object of rule name → rule`);
    try {
      return new Policy({ ...defaultRules, ...(parsed as Record<string, unknown>) });
    } catch (error) {
      throw new Error(`Manila policy file ${path}: ${(error as Error).message}`);
    }
  }

  /**
   * A named rule within one decision; an unknown name is false (oslo.policy's behaviour for
   * rule:NAME). Load refuses loops and deep chains, so the depth bound is only a backstop.
   */
  evaluate(name: string, decision: Decision, depth = 0): boolean {
    const known = decision.known.get(name);
    if (known !== undefined) return known;
    const rule = this.rules.get(name);
    const result = rule !== undefined && depth <= ruleDepthMax && rule(decision, depth);
    decision.known.set(name, result);
    return result;
  }

  /** Whether `caller` may perform `action` (e.g. `cgsnapshot:reset_status`); unknown actions use `default`. */
  allows(action: string, caller: Caller): boolean {
    const credentials: Credentials = { roles: [caller.role], project_id: caller.projectId, user_id: caller.userId };
    return this.evaluate(this.rules.has(action) ? action : 'default', { policy: this, credentials, known: new Map() });
  }

  /**
   * Refuses with 403 unless allowed. CG and share-group controllers answer webob's default
   * text; share calls answer oslo's "Policy doesn't allow …".
   */
  authorize(action: string, caller: Caller): void {
    if (this.allows(action, caller)) return;
    const message = action.startsWith('share:') ? `Policy doesn't allow ${action} to be performed.` : 'Access was denied to this resource.';
    throw new StrataError('FORBIDDEN', message);
  }
}
