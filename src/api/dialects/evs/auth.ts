/**
 * EVS authentication: a Strata token in `X-Auth-Token` (Huawei's IAM token header), the same
 * mechanism as the Cinder dialect's. The `{project_id}` of the path must be the token's
 * project; another project's id answers EVS.5404, as any resource of another project does.
 * EVS's Cinder-compatible paths speak Cinder 3.0 (they take no microversion header).
 */
import type { FastifyRequest } from 'fastify';
import type { ControlPlane } from '../../../core/plane.js';
import { authenticateOpenStack, checkProject } from '../cinder/auth.js';
import { minVersion, pin } from '../cinder/microversion.js';

export { callerOf } from '../cinder/auth.js';

export async function authenticateEvs(plane: ControlPlane, request: FastifyRequest): Promise<void> {
  await authenticateOpenStack(plane, request);
  pin(request, minVersion);
  checkProject(request);
}
