import { parse, CsvError } from 'csv-parse/browser/esm/sync';
import { checkDataset, type Dataset } from '../dataset';
import { DataError } from './errors';
import type { CsvDataSpec } from './spec';

/**
 * A peer's CSV file as a Dataset: a header row, numeric feature columns and a label column
 * (the session's `labelColumn`, default the last) whose values are the session's class names.
 * Parsed by csv-parse (quotes, CRLF, BOM); the browser build of its sync API, which needs no
 * Node built-ins, so the page's worker and Node parse alike. Every refusal is a DataError
 * naming the file, the line (1 = the header) and the column.
 */

export interface CsvOptions {
  /** features the session's model takes (the product of its input shape) */
  readonly features: number;
  /** the model's per-sample input shape, recorded on the Dataset */
  readonly inputShape: readonly number[];
}

export function parseCsvDataset(file: string, text: string | Uint8Array, spec: CsvDataSpec, options: CsvOptions): Dataset {
  const source = typeof text === 'string' ? text : new TextDecoder('utf-8').decode(text);
  let records: { record: string[]; info: { lines: number } }[];
  try {
    records = parse(source, { bom: true, trim: true, record_delimiter: ['\r\n', '\n', '\r'], skip_empty_lines: true, relax_column_count: true, info: true }) as unknown as typeof records;
  } catch (err) {
    const line = err instanceof CsvError ? (err as CsvError & { lines?: number }).lines : undefined;
    throw new DataError(`${file}${line ? ` line ${line}` : ''}: not valid CSV (${(err as Error).message})`, file, { line });
  }
  if (records.length === 0) throw new DataError(`${file}: empty (expected a header row, then one sample a row)`, file);
  const header = records[0].record;
  const at = (name: string): number => header.indexOf(name);
  const duplicate = header.find((h, i) => header.indexOf(h) !== i);
  if (duplicate !== undefined) throw new DataError(`${file}: the header names column "${duplicate}" twice`, file, { line: 1, column: duplicate });
  const labelName = spec.labelColumn ?? header[header.length - 1];
  const labelAt = at(labelName);
  if (labelAt < 0) throw new DataError(`${file}: no column "${labelName}" (the session's label column); the header has ${header.join(', ')}`, file, { line: 1, column: labelName });
  const featureNames = spec.features ?? header.filter((_, i) => i !== labelAt);
  const missing = featureNames.filter((f) => at(f) < 0);
  if (missing.length > 0) throw new DataError(`${file}: no column ${missing.map((m) => `"${m}"`).join(', ')} (the session's features); the header has ${header.join(', ')}`, file, { line: 1, column: missing[0] });
  if (featureNames.includes(labelName)) throw new DataError(`${file}: column "${labelName}" is both a feature and the label`, file, { line: 1, column: labelName });
  if (featureNames.length !== options.features) {
    throw new DataError(
      `${file}: ${featureNames.length} feature column${featureNames.length === 1 ? '' : 's'} (${featureNames.join(', ')}), the session's model takes ${options.features} inputs`,
      file,
      { line: 1 },
    );
  }
  const { standardize } = spec;
  if (standardize && standardize.mean.length !== featureNames.length) {
    // the file has as many features as the model takes (checked above): the spec is what is wrong
    throw new DataError(`the session standardizes ${standardize.mean.length} features, its model takes ${featureNames.length} inputs`, file);
  }
  const columns = featureNames.map(at);
  const classIndex = new Map(spec.classes.map((c, i) => [c, i]));
  const count = records.length - 1;
  if (count === 0) throw new DataError(`${file}: a header but no rows`, file, { line: 1 });
  const f = featureNames.length;
  const inputs = new Float32Array(count * f);
  const labels = new Uint8Array(count);
  for (let r = 0; r < count; r++) {
    const { record, info } = records[r + 1];
    const line = info.lines;
    if (record.length !== header.length) {
      throw new DataError(`${file} line ${line}: ${record.length} field${record.length === 1 ? '' : 's'}, the header has ${header.length}`, file, { line });
    }
    const label = classIndex.get(record[labelAt]);
    if (label === undefined) {
      throw new DataError(
        `${file} line ${line}, column "${labelName}": label "${record[labelAt]}" is not one of the session's classes (${spec.classes.join(', ')})`,
        file,
        { line, column: labelName },
      );
    }
    labels[r] = label;
    for (let j = 0; j < f; j++) {
      const cell = record[columns[j]];
      // Number('') is 0 and Number(' ') too: an empty cell is missing data, not a zero
      const v = cell === '' ? Number.NaN : Number(cell);
      if (!Number.isFinite(v)) {
        throw new DataError(`${file} line ${line}, column "${featureNames[j]}": ${cell === '' ? 'empty' : `"${cell}" is not a number`}`, file, { line, column: featureNames[j] });
      }
      inputs[r * f + j] = standardize ? (v - standardize.mean[j]) / standardize.std[j] : v;
    }
  }
  return checkDataset({ name: file, inputs, labels, count, inputShape: options.inputShape, numClasses: spec.classes.length });
}
