/** The metadata database: schema, migrations, and opening SQLite or PostgreSQL by URL. */
export { openDatabase, parseDatabaseUrl, type Db, type DbTransaction, type MetadataDatabase } from './connect.js';
export type { DatabaseKind } from './migrations.js';
export type * from './schema.js';
export { databaseTime } from './clock.js';
