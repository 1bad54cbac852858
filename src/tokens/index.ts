/**
 * Local token counting: `countTokens` (exact, lazily loaded tokenizer) and the
 * policy's pre-call input estimator. See tokenizer.ts for the tokenizer choice.
 */
export { countTokens, encodingFor, type Encoding } from './tokenizer.ts';
export {
  createInputEstimator,
  IMAGE_TOKENS,
  MESSAGE_OVERHEAD_TOKENS,
  REPLY_PRIMING_TOKENS,
  type InputEstimator,
  type InputEstimatorOptions,
  type EstimateProvider,
} from './estimator.ts';
