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
 * policy other than the one they wrote.
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

type Check = (policy: Policy, credentials: Credentials, depth: number) => boolean;

/** Rule references deeper than this are a loop in the operator's file: denied. */
const ruleDepthMax = 32;

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

function parseCheck(token: string): Check {
  if (token === '@') return () => true;
  if (token === '!') return () => false;
  const colon = token.indexOf(':');
  if (colon <= 0) throw new Error(`"${token}" is not a check (KIND:MATCH, @ or !)`);
  const kind = token.slice(0, colon);
  const match = token.slice(colon + 1);
  switch (kind) {
    case 'rule':
      return (policy, credentials, depth) => policy.evaluate(match, credentials, depth + 1);
    case 'role':
      return (_policy, credentials) => credentials.roles.includes(match.toLowerCase());
    case 'is_admin':
      // Manila's context.is_admin is the context_is_admin rule.
      return (policy, credentials, depth) => (policy.evaluate('context_is_admin', credentials, depth + 1) ? 'true' : 'false') === match.toLowerCase();
    case 'project_id':
    case 'user_id': {
      // The target is the caller's own project and user (see the file comment).
      const target = (credentials: Credentials) => match.replace(/%\((project_id|user_id)\)s/g, (_all, key: 'project_id' | 'user_id') => credentials[key]);
      return (_policy, credentials) => credentials[kind] === target(credentials);
    }
    default:
      throw new Error(`the check kind "${kind}" is not supported (rule, role, is_admin, project_id, user_id)`);
  }
}

/** Recursive descent: or → and → not → ( … ) | check. */
function parseExpression(text: string): Check {
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
    return parts.length === 1 ? parts[0] : (p, c, d) => parts.some((part) => part(p, c, d));
  };
  const parseAnd = (): Check => {
    const parts = [parseNot()];
    while (peek()?.toLowerCase() === 'and') {
      next();
      parts.push(parseNot());
    }
    return parts.length === 1 ? parts[0] : (p, c, d) => parts.every((part) => part(p, c, d));
  };
  const parseNot = (): Check => {
    if (peek()?.toLowerCase() === 'not') {
      next();
      const inner = parseNot();
      return (p, c, d) => !inner(p, c, d);
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
    return parseCheck(token);
  };
  const check = parseOr();
  if (at !== tokens.length) throw new Error(`unexpected "${tokens[at]}"`);
  return check;
}

function parseRule(name: string, rule: unknown): Check {
  try {
    if (typeof rule === 'string') return parseExpression(rule);
    // The list form: [["a", "b"], ["c"]] is (a and b) or c; [] is always.
    if (Array.isArray(rule) && rule.every((alt) => Array.isArray(alt) && alt.every((c) => typeof c === 'string'))) {
      if (rule.length === 0) return () => true;
      const alternatives = (rule as string[][]).map((alt) => alt.map(parseCheck));
      return (p, c, d) => alternatives.some((alt) => alt.every((check) => check(p, c, d)));
    }
    throw new Error('a rule is a string or a list of lists of strings');
  } catch (error) {
    throw new Error(`policy rule "${name}": ${(error as Error).message}`);
  }
}

export class Policy {
  private readonly rules = new Map<string, Check>();

  constructor(rules: Record<string, unknown>) {
    for (const [name, rule] of Object.entries(rules)) this.rules.set(name, parseRule(name, rule));
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

  /** A named rule; an unknown name is false (oslo.policy's behaviour for rule:NAME). */
  evaluate(name: string, credentials: Credentials, depth = 0): boolean {
    if (depth > ruleDepthMax) return false;
    const rule = this.rules.get(name);
    return rule === undefined ? false : rule(this, credentials, depth);
  }

  /** Whether `caller` may perform `action` (e.g. `cgsnapshot:reset_status`); unknown actions use `default`. */
  allows(action: string, caller: Caller): boolean {
    const credentials: Credentials = { roles: [caller.role], project_id: caller.projectId, user_id: caller.userId };
    return this.evaluate(this.rules.has(action) ? action : 'default', credentials);
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
