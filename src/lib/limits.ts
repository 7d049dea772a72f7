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
  /** Sub-chunk overwrites of durable chunks held for the next commit that trigger it on their own (D8). */
  overwriteBytesCommitAbove: 16 * MiB,
  /** Beyond this many bytes of overwrites in memory, a small write copies its chunk instead of waiting. */
  overwriteBytesMax: 64 * MiB,
  /** A write up to this fraction of a chunk overwrites a durable chunk through the log; larger ones copy the chunk. */
  overwriteChunkFractionMax: 0.5,
  /** The journal is folded into a new checkpoint when it outgrows this and twice the last checkpoint. */
  journalBytesCheckpointAbove: 64 * MiB,
  /** Pages of the paged map (page-store.ts): the unit of its I/O, checksums and copy-on-write. */
  mapPageSizeBytesDefault: 16 * KiB,
  /** Tests use small pages so that a few hundred entries already make a deep tree. */
  mapPageSizeBytesMin: 512,
  mapPageSizeBytesMax: 64 * KiB,
  /** Clean map pages kept in memory (an LRU bounded in bytes); configurable per pool. */
  mapCacheBytesDefault: 64 * MiB,
  mapCacheBytesMin: 64 * KiB,
  /** Map changes held in memory (the delta over the on-disk tree) that make the map want a checkpoint. */
  mapDeltaEntriesCheckpointAbove: 1_000_000,
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
    /** Prepared SQLite statements kept for reuse (least recently used beyond this are dropped). */
    sqliteStatementCacheCountMax: 256,
    tokenLifetimeMs: 12 * 60 * 60 * 1000,
    /** Expired tokens deleted per sweep (one sweep on every token issued and one every `tokenPurgeIntervalMs`). */
    tokenPurgeBatchMax: 500,
    tokenPurgeIntervalMs: 10 * 60 * 1000,
    /** scrypt runs at most this many at once (N = 2^17, r = 8: 128 MiB each) ... */
    passwordHashConcurrencyMax: 2,
    /** ... and queues at most this many more; beyond that a login is refused with TOO_MANY_ATTEMPTS. */
    passwordHashQueueMax: 64,
    /**
     * Failed-login throttling (core/login-throttle.ts), kept separately per user name and per
     * client address (IPv6 by /64). Every attempt counts as a failure until it succeeds; after
     * the free ones, each further failure locks the key for a delay that doubles from
     * `loginDelayMsMin` up to `loginDelayMsMax`. A success clears the name's count; a key with
     * no failure for `loginFailureForgetMs` is forgotten. Each table keeps at most
     * `loginTrackedKeysMax` keys, evicting the least recently failed.
     */
    loginFailuresFreePerName: 5,
    loginFailuresFreePerAddress: 20,
    loginDelayMsMin: 1000,
    loginDelayMsMax: 15 * 60 * 1000,
    loginFailureForgetMs: 60 * 60 * 1000,
    loginTrackedKeysMax: 10_000,
    nameLengthMax: 255,
    descriptionLengthMax: 1024,
    passwordLengthMin: 8,
    passwordLengthMax: 256,
    metadataEntriesMax: 64,
    metadataKeyLengthMax: 255,
    metadataValueLengthMax: 1024,
    listLimitDefault: 100,
    /** Every list page, in every dialect and the native API, holds at most this many rows. */
    listLimitMax: 1000,
    /** Rows a list filter evaluated outside SQL may read for one request; beyond it the filter is refused. */
    listScanRowsMax: 100_000,
    /** A job writes its progress to the database at most this often. */
    jobProgressIntervalMs: 250,
    /**
     * A job (and a policy run) is leased to the instance running it for this long; that
     * instance renews the lease every `jobLeaseRenewIntervalMs`. Another instance of the same
     * pool takes over a queued or running job whose lease has expired (ARCHITECTURE.md, C9).
     */
    jobLeaseMs: 15_000,
    /** How often an instance renews its leases and looks for jobs of its pool whose lease expired. */
    jobLeaseRenewIntervalMs: 5_000,
    /** Jobs one look takes over; the rest wait for the next look. */
    jobTakeoverBatchMax: 100,
    /**
     * In a pool several live instances share, a `creating` row, or an engine object that no row
     * names, counts as abandoned (its creator died) only once it is this old: creations take
     * one engine call, far below it. Until then reconciliation leaves it alone.
     */
    creatingAbandonMs: 5 * 60_000,
    /** How often an instance of a shared pool marks abandoned `creating` rows and policy runs. */
    sharedPoolSweepIntervalMs: 30_000,
    /** How often an instance of a shared pool brings its NBD export table in line with the pool's attachments. */
    attachmentSyncIntervalMs: 2_000,
    /** Default quotas of a new project; -1 is unlimited. */
    quotaVolumesDefault: 1000,
    quotaSnapshotsDefault: 100_000,
    /** Unlimited by default: counting gigabytes reads every size in the project. */
    quotaGigabytesDefault: -1,
    quotaSnapshotsPerVolumeDefault: 16_384,
    httpBodyBytesMax: 1024 * 1024,
    /** A client has this long to send a request's headers (a new connection: from connecting); then 408 and close. */
    httpHeadersTimeoutMs: 10_000,
    /** …and this long to send the whole request, body included (1 MiB at most). */
    httpRequestTimeoutMs: 60_000,
    /** An idle keep-alive connection is closed after this long. */
    httpKeepAliveTimeoutMs: 5_000,
    /** A connection with no bytes moving either way for this long is closed, whatever it is doing. */
    httpSocketIdleTimeoutMs: 120_000,
    /** How often the header and request timeouts are checked (Node's connectionsCheckingInterval). */
    httpTimeoutCheckIntervalMs: 1_000,
    /** Open HTTP connections; beyond it a new connection is closed at once. */
    httpConnectionCountMax: 1024,

    /** Connecting to PostgreSQL (or waiting for a pooled connection) fails after this long. */
    postgresConnectTimeoutMs: 10_000,
    /** PostgreSQL cancels a statement that runs longer (statement_timeout); migrations have none. */
    postgresStatementTimeoutMs: 30_000,
    /** PostgreSQL ends a session left idle inside a transaction this long (idle_in_transaction_session_timeout). */
    postgresIdleInTransactionTimeoutMs: 60_000,
    /** Pooled PostgreSQL connections per process. */
    postgresPoolConnectionsMax: 10,
    /**
     * A list filter's wildcard pattern (XSKY `q`, ZStack `~=`), in characters: a pattern with
     * one-character wildcards costs up to text × pattern comparisons per row (src/lib/wildcard.ts).
     */
    filterPatternLengthMax: 255,
    /** A dialect's query-string value, and how often one parameter may repeat (`?a=1&a=2`). */
    queryValueLengthMax: 4096,
    queryRepeatMax: 64,
    /** A dialect's path parameter (ids, names in the path). */
    pathParamLengthMax: 255,

    /** Snapshot policies: per project, and the bounds of one policy. */
    policiesPerProjectMax: 100,
    /** Leaves room in a snapshot name for `-20261203T110000Z`. */
    policyNameLengthMax: 200,
    policyTargetsMax: 256,
    /** Largest count a retention rule takes. */
    retentionCountMax: 10_000,
    /** How often the scheduler looks for due policies (cron expressions have whole seconds). */
    policyTickMs: 1000,
    /** Missed due times a run counts after downtime before it stops counting. */
    policyMissedCountMax: 1000,

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
    handshakeUnderPressureDurationMsMax: 2_000,
    handshakeCountMax: 256,
    handshakePressureCountAbove: 64,
    handshakeReadAheadBytesMax: 16 * KiB,
    inFlightRequestCountMax: 128,
    inFlightBytesMax: 64 * MiB,
    serverInFlightBytesMax: 256 * MiB,
    socketWriteBufferBytesMax: 8 * MiB,
    replyStallMsMax: 60_000,
    readAheadBytesMax: 256 * KiB,
    blockStatusExtentCountMax: 64 * KiB,
    readHoleBytesMin: 4096,
    readSegmentCountMax: 64,
    connectionCountMax: 1024,
    exportCountMax: 1024 * 1024,
    closeLingerMsMax: 5_000,
  },

  /** The Ceph RBD backend's bounds (src/backends/rbd). */
  rbd: {
    /** Volume ids are random below 2^volumeIdBits; a snapshot id is volumeId·2^snapIdBits + RBD's snapshot id (53 bits in all). */
    volumeIdBits: 24,
    snapIdBits: 29,
    /** Random volume ids tried before a create gives up (each collision is an EEXIST from RBD). */
    volumeIdAttemptsMax: 8,
    /** A write refused because another instance holds the image's exclusive lock (its fence) is retried for this long. */
    lockWaitMsMax: 10_000,
    lockRetryIntervalMs: 20,
    /** A volume's image still open at another instance (or watched by a dead one) is removed once it is not, retrying for this long. */
    removeWaitMsMax: 60_000,
    removeRetryIntervalMs: 250,
    /** The unit diffs are rounded out to and reported in. */
    diffBlockSizeBytes: 4 * KiB,
  },
} as const;

export const units = { KiB, MiB, TiB } as const;
