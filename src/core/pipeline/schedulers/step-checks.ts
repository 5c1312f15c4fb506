/** Argument checks shared by every scheduler's `step`. */
import { LorafuseError } from '../../../errors.ts';

/** Checks that the tensors of one step have the same length (and that the index is in range). */
export function checkStepInputs(
  className: string,
  stepIndex: number,
  numSteps: number,
  tensors: Record<string, Float32Array | undefined>,
): void {
  if (numSteps === 0) {
    throw new LorafuseError('invalid-argument', `${className}: call setTimesteps(n) before stepping.`);
  }
  if (!Number.isInteger(stepIndex) || stepIndex < 0 || stepIndex >= numSteps) {
    throw new LorafuseError(
      'invalid-argument',
      `${className}: step index ${stepIndex} is outside 0..${numSteps - 1} (setTimesteps was called with ${numSteps}).`,
      { stepIndex, numSteps },
    );
  }
  const entries = Object.entries(tensors).filter((e): e is [string, Float32Array] => e[1] !== undefined);
  const [firstName, first] = entries[0]!;
  for (const [name, t] of entries) {
    if (t.length !== first.length) {
      throw new LorafuseError(
        'invalid-argument',
        `${className}: '${name}' has ${t.length} values but '${firstName}' has ${first.length}; they must match.`,
        { [name]: t.length, [firstName]: first.length },
      );
    }
  }
}
