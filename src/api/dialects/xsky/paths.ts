/**
 * XMS collection paths end in `/` (`/block-volumes/`), which is what its SDKs send; the form
 * without the slash is served too, so hand-written clients need not guess.
 */
export function collection(path: string): [string, string] {
  return [`${path}/`, path];
}
