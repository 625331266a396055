export * from './record';
export { RecordLedger, DEFAULT_MAX_SNAPSHOT_BYTES, type LedgerOptions } from './ledger';
export { createMemoryRecord, type MemoryRecord, type MemoryRecordOptions } from './memory';
