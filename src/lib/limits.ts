/**
 * Every limit in Strata, in one place. Names carry the qualifier last (`chunkSizeBytesMax`).
 * A request beyond a limit is refused with StrataError('LIMIT_EXCEEDED' or 'INVALID_ARGUMENT').
 */
const KiB = 1024;
const MiB = 1024 * KiB;
const TiB = 1024 * 1024 * MiB;

export const limits = {
  /** The unit of checksumming and of crash atomicity. */
  sectorSizeBytes: 4 * KiB,

  chunkSizeBytesMin: 4 * KiB,
  chunkSizeBytesMax: 1 * MiB,
  chunkSizeBytesDefault: 64 * KiB,

  volumeSizeBytesMin: 4 * KiB,
  volumeSizeBytesMax: 64 * TiB,
  volumeSizeBytesAlignment: 4 * KiB,
  volumesMax: 65_536,

  snapshotsPerVolumeMax: 16_384,
  snapshotsMax: 1_000_000,
  groupVolumesMax: 256,

  /** Largest single read or write the engine accepts (the NBD maximum block size matches it). */
  requestSizeBytesMax: 32 * MiB,

  /** A clone reads through at most this many origins; deeper clones are refused until flattened. */
  cloneDepthMax: 16,
  /** A clone deeper than this is flattened in the background right after it is created. */
  cloneDepthFlattenAbove: 4,

  /** Uncommitted map changes that trigger a commit on their own (bounds memory and replay). */
  dirtyEntriesCommitAbove: 65_536,
  /** The journal is folded into a new checkpoint when it outgrows this and twice the last checkpoint. */
  journalBytesCheckpointAbove: 64 * MiB,
  /** Map entries a background job changes before it yields to foreground I/O. */
  jobEntriesPerStep: 512,

  /**
   * A data write that grows the pool's data file must leave this much free on its file system:
   * the rest is kept for metadata (journal frames up to a checkpoint, the checkpoint, the
   * metadata database), so commits go on when data writes are refused with NO_SPACE.
   */
  dataWriteFreeBytesMin: 64 * MiB,
  /** Free space is asked of the file system again at least this often while data writes grow the pool. */
  freeSpaceCheckIntervalMs: 1000,

  /** The control plane's bounds (src/core, src/api). */
  control: {
    tokenLifetimeMs: 12 * 60 * 60 * 1000,
    nameLengthMax: 255,
    descriptionLengthMax: 1024,
    passwordLengthMin: 8,
    passwordLengthMax: 256,
    metadataEntriesMax: 64,
    metadataKeyLengthMax: 255,
    metadataValueLengthMax: 1024,
    listLimitDefault: 100,
    listLimitMax: 1000,
    /** A job writes its progress to the database at most this often. */
    jobProgressIntervalMs: 250,
    /** Default quotas of a new project; -1 is unlimited. */
    quotaVolumesDefault: 1000,
    quotaSnapshotsDefault: 100_000,
    /** Unlimited by default: counting gigabytes reads every size in the project. */
    quotaGigabytesDefault: -1,
    quotaSnapshotsPerVolumeDefault: 16_384,
    httpBodyBytesMax: 1024 * 1024,
    /** /healthz reports the metadata database unreachable when `select 1` takes longer. */
    healthCheckTimeoutMs: 2000,
  },

  /** The NBD server's bounds; src/nbd/limits.ts documents each one. */
  nbd: {
    blockSizeBytesMin: 1,
    blockSizeBytesPreferred: 4096,
    requestSizeBytesMax: 32 * MiB, // equals requestSizeBytesMax of the engine
    optionDataBytesMax: 64 * KiB,
    optionCountMax: 1024,
    stringBytesMax: 4096,
    handshakeDurationMsMax: 10_000,
    inFlightRequestCountMax: 128,
    inFlightBytesMax: 64 * MiB,
    socketWriteBufferBytesMax: 8 * MiB,
    readAheadBytesMax: 256 * KiB,
    blockStatusExtentCountMax: 64 * KiB,
    readHoleBytesMin: 4096,
    readSegmentCountMax: 64,
    connectionCountMax: 1024,
    exportCountMax: 1024 * 1024,
    closeLingerMsMax: 5_000,
  },
} as const;

export const units = { KiB, MiB, TiB } as const;
