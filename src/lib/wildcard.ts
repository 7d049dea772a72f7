/**
 * Wildcard patterns (XSKY's `q=name:cs*`, ZStack's LIKE `%snap_1%`) matched without regular
 * expressions, in time bounded by the lengths involved: a pattern a user sends never becomes a
 * backtracking RegExp (`^.*a.*a.*a…$` over a long name is exponential in the number of stars).
 *
 * A pattern is cut at its any-run wildcards into segments. The first segment must match at the
 * start of the text, the last at its end, and each one between is taken at its leftmost place
 * after the one before: if any placement of the middle segments works, the leftmost ones do too,
 * so nothing is ever retried. A segment without a one-character wildcard is found with
 * Knuth–Morris–Pratt, so a pattern without one costs at most 2 × (text length + pattern length)
 * comparisons. A segment with one is compared at each start, at most text length × segment
 * length; callers bound the pattern's length (`limits.control.filterPatternLengthMax`).
 *
 * Characters are code points compared case-insensitively (each one lower-cased on its own).
 */

export interface WildcardSyntax {
  /** Matches any run of characters, none included (`*`, `%`). */
  anyRun: string;
  /** Matches exactly one character (`_`); absent: the syntax has none. */
  anyOne?: string;
  /** Makes the next character literal (`\`); a trailing escape is itself literal. */
  escape?: string;
}

/** Counts character comparisons, for callers (and tests) that bound the work of a match. */
export interface MatchWork {
  comparisons: number;
}

/** null: the one-character wildcard. */
type Element = string | null;

function fold(character: string): string {
  const lower = character.toLowerCase();
  // A few characters lower-case to two code points (U+0130); those are compared as they are.
  return lower.length === character.length ? lower : character;
}

/** One run of the pattern between any-run wildcards. */
class Segment {
  readonly length: number;
  /** KMP's failure table; null when the segment holds a one-character wildcard. */
  private readonly failure: Int32Array | null;

  constructor(private readonly elements: Element[]) {
    this.length = elements.length;
    this.failure = elements.includes(null) ? null : failureTable(elements as string[]);
  }

  /** Whether the segment matches `text` at `start` (the caller has checked it fits). */
  matchesAt(text: string[], start: number, work: MatchWork): boolean {
    for (let i = 0; i < this.length; i++) {
      work.comparisons++;
      const element = this.elements[i];
      if (element !== null && element !== text[start + i]) return false;
    }
    return true;
  }

  /** The leftmost start ≥ `from` where the segment matches and ends by `to`; -1 if none. */
  find(text: string[], from: number, to: number, work: MatchWork): number {
    if (this.length === 0) return from;
    if (this.failure === null) {
      for (let start = from; start + this.length <= to; start++) if (this.matchesAt(text, start, work)) return start;
      return -1;
    }
    const elements = this.elements as string[];
    let matched = 0;
    for (let i = from; i < to; i++) {
      work.comparisons++;
      while (matched > 0 && elements[matched] !== text[i]) {
        matched = this.failure[matched - 1];
        work.comparisons++;
      }
      if (elements[matched] === text[i]) matched++;
      if (matched === this.length) return i - this.length + 1;
    }
    return -1;
  }
}

/** failure[i]: the length of the longest proper border of elements[0..i]. */
function failureTable(elements: string[]): Int32Array {
  const failure = new Int32Array(elements.length);
  let k = 0;
  for (let i = 1; i < elements.length; i++) {
    while (k > 0 && elements[i] !== elements[k]) k = failure[k - 1];
    if (elements[i] === elements[k]) k++;
    failure[i] = k;
  }
  return failure;
}

export class Wildcard {
  private constructor(private readonly segments: Segment[]) {}

  /** The pattern in `syntax`. */
  static compile(pattern: string, syntax: WildcardSyntax): Wildcard {
    const segments: Element[][] = [[]];
    const characters = Array.from(pattern);
    for (let i = 0; i < characters.length; i++) {
      const c = characters[i];
      const current = segments[segments.length - 1];
      if (c === syntax.escape && i + 1 < characters.length) current.push(fold(characters[++i]));
      else if (c === syntax.anyRun) segments.push([]);
      else if (c === syntax.anyOne) current.push(null);
      else current.push(fold(c));
    }
    return new Wildcard(segments.map((elements) => new Segment(elements)));
  }

  /** Texts that contain `needle` (every character literal). */
  static substring(needle: string): Wildcard {
    return new Wildcard([new Segment([]), new Segment(Array.from(needle, fold)), new Segment([])]);
  }

  matches(text: string, work: MatchWork = { comparisons: 0 }): boolean {
    const characters = Array.from(text, fold);
    const segments = this.segments;
    const first = segments[0];
    if (segments.length === 1) return characters.length === first.length && first.matchesAt(characters, 0, work);
    const last = segments[segments.length - 1];
    if (first.length + last.length > characters.length) return false;
    const end = characters.length - last.length;
    if (!first.matchesAt(characters, 0, work) || !last.matchesAt(characters, end, work)) return false;
    let at = first.length;
    for (let i = 1; i < segments.length - 1; i++) {
      const found = segments[i].find(characters, at, end, work);
      if (found < 0) return false;
      at = found + segments[i].length;
    }
    return true;
  }
}
