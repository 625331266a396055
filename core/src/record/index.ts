export * from './record';
export { RecordLedger, DEFAULT_MAX_SNAPSHOT_BYTES, type LedgerOptions, type LedgerState } from './ledger';
export { createMemoryRecord, type MemoryRecord, type MemoryRecordOptions } from './memory';
export { EvalHistoryLog, evalHistorySchema, DEFAULT_EVAL_HISTORY, type EvalHistory, type EvalHistoryState } from './eval-history';
