/**
 * Key suffixes for writing, looked up in the format rule tables the readers use
 * (formats/*.ts), so reader and writer can never disagree on a name.
 */
import { LorafuseError } from '../../../errors.ts';
import type { AdapterKind } from '../adapter.ts';
import type { Role, SuffixRule } from '../formats/rules.ts';

/** The rule-table role of a canonical kind (LoCon Tucker is kohya's LoRA with a `lora_mid`). */
export function roleOfKind(kind: AdapterKind): Role {
  return kind === 'locon-tucker' ? 'lora' : kind;
}

/** The first suffix the table lists for (role, factor): the spelling the format writes. */
export function suffixFor(rules: readonly SuffixRule[], role: Role, factor: string): string {
  const rule = rules.find((r) => r.role === role && r.factor === factor);
  if (!rule) {
    throw new LorafuseError(
      'internal',
      `no key suffix for factor '${factor}' of '${role}' in the format tables`,
      {
        role,
        factor,
      },
    );
  }
  return rule.suffix;
}
