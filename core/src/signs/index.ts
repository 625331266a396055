/**
 * Sign compression and majority vote (DESIGN.md: ballot, tally, verdict). Bit layout and
 * rules: core/src/signs/bits.ts and docs/signs.md.
 */
export { packedBytes, checkPacked } from './bits';
export { packSigns, unpackSigns, stochasticSignPack, momentumStochasticSignPack, stochasticSignStream } from './pack';
export {
  type Verdict,
  verdictValue,
  verdictFromTally,
  encodeVerdict,
  decodeVerdict,
  encodedVerdictBytes,
  checkVerdict,
} from './verdict';
export { tally, majorityVerdict } from './tally';
export { applyVerdict, applySigns, countNonFinite } from './apply';
