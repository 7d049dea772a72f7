/** Resources named on the command line by name or id: a UUID is taken as an id, anything else is looked up by name. */
import { ApiError, type StrataClient } from '../client/index.js';

const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export type Kind = 'volume' | 'snapshot' | 'group' | 'group snapshot' | 'policy' | 'project' | 'user';

async function candidates(client: StrataClient, kind: Kind, name: string): Promise<Array<{ id: string; name: string }>> {
  switch (kind) {
    case 'volume':
      return (await client.listVolumes({ name, limit: 2 })).volumes;
    case 'snapshot':
      return (await client.listSnapshots({ name, limit: 2 })).snapshots;
    case 'group':
      return (await client.listGroups({ name, limit: 2 })).groups;
    case 'policy':
      return (await client.listPolicies({ name, limit: 2 })).policies;
    case 'project':
      return (await client.listProjects()).projects.filter((p) => p.name === name);
    case 'user':
      return (await client.listUsers()).users.filter((u) => u.name === name);
    case 'group snapshot': {
      const found: Array<{ id: string; name: string }> = [];
      let page: string | undefined;
      do {
        const list = await client.listGroupSnapshots({ limit: 1000, page_token: page });
        found.push(...list.group_snapshots.filter((g) => g.name === name));
        page = list.next_page_token ?? undefined;
      } while (page !== undefined && found.length < 2);
      return found;
    }
  }
}

/** The id of the resource `ref` names; NOT_FOUND or an ambiguity is an API-style error (exit 1). */
export async function resolve(client: StrataClient, kind: Kind, ref: string): Promise<string> {
  if (uuid.test(ref)) return ref;
  const found = await candidates(client, kind, ref);
  if (found.length === 0) throw new ApiError(404, 'NOT_FOUND', `no ${kind} is named ${JSON.stringify(ref)}`);
  if (found.length > 1) throw new ApiError(400, 'INVALID_ARGUMENT', `more than one ${kind} is named ${JSON.stringify(ref)}; give its id`);
  return found[0].id;
}
