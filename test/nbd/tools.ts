/** Whether a client tool the tests drive is installed. */
import { accessSync, constants } from 'node:fs';
import path from 'node:path';

export function installed(tool: string): boolean {
  return (process.env.PATH ?? '').split(path.delimiter).some((directory) => {
    try {
      accessSync(path.join(directory, tool), constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}
