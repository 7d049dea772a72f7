/**
 * Attachments: the right to open a volume (read-write or read-only) or a snapshot (read-only)
 * over NBD. Creating one adds an export whose name is an unguessable capability; deleting it
 * removes the export, which disconnects its clients.
 */
import { randomUUID } from 'node:crypto';
import type { Engine, ViewRef } from '../engine/index.js';
import { StrataError } from '../lib/errors.js';
import { viewDevice, type BlockDevice } from './devices.js';

/** The part of the NBD export table attachments use. */
export interface ExportRegistry {
  add(device: BlockDevice, options?: { name?: string }): { name: string };
  remove(name: string): boolean;
}

export type AttachmentMode = 'rw' | 'ro';

export interface Attachment {
  id: string;
  target: ViewRef;
  mode: AttachmentMode;
  exportName: string;
  uri: string;
  createdAt: string;
}

export class Attachments {
  private readonly byId = new Map<string, Attachment>();

  constructor(
    private readonly engine: Engine,
    private readonly exports: ExportRegistry,
    private readonly nbdBaseUri: () => string,
  ) {}

  create(target: ViewRef, mode: AttachmentMode): Attachment {
    if ('snapshotId' in target) {
      if (mode !== 'ro') throw new StrataError('INVALID_ARGUMENT', 'a snapshot can only be attached read-only');
      this.engine.snapshot(target.snapshotId);
    } else {
      this.engine.volume(target.volumeId);
    }
    const device = viewDevice(this.engine, target, { readOnly: mode === 'ro' });
    const { name } = this.exports.add(device);
    const attachment: Attachment = {
      id: randomUUID(),
      target,
      mode,
      exportName: name,
      uri: `${this.nbdBaseUri()}/${name}`,
      createdAt: new Date().toISOString(),
    };
    this.byId.set(attachment.id, attachment);
    return attachment;
  }

  get(id: string): Attachment {
    const attachment = this.byId.get(id);
    if (attachment === undefined) throw new StrataError('NOT_FOUND', `attachment ${id} does not exist`);
    return attachment;
  }

  list(): Attachment[] {
    return [...this.byId.values()];
  }

  /** Ends the attachment and disconnects its clients. */
  delete(id: string): void {
    const attachment = this.get(id);
    this.exports.remove(attachment.exportName);
    this.byId.delete(id);
  }

  /** Ends every attachment of a volume or snapshot (before deleting it). */
  deleteFor(target: ViewRef): void {
    for (const attachment of this.list()) {
      const same =
        ('volumeId' in target && 'volumeId' in attachment.target && target.volumeId === attachment.target.volumeId) ||
        ('snapshotId' in target && 'snapshotId' in attachment.target && target.snapshotId === attachment.target.snapshotId);
      if (same) this.delete(attachment.id);
    }
  }
}
