/**
 * Typed `model_index.json`: the pipeline class and, per component, its library and class
 * (`[library, class]`, or `[null, null]` for an absent optional component, which is dropped).
 */
import { LorafuseError } from '../../../errors.ts';
import { asConfigObject } from './json-fields.ts';

export interface ModelIndexComponent {
  name: string;
  library: string;
  className: string;
}

export interface ModelIndex {
  file: string;
  pipelineClass: string;
  /** Present components, in file order. */
  components: ModelIndexComponent[];
  /** Non-component entries (`force_zeros_for_empty_prompt`, `requires_safety_checker`, ...). */
  options: Record<string, unknown>;
}

export function parseModelIndex(json: unknown, file = 'model_index.json'): ModelIndex {
  const obj = asConfigObject(json, file);
  const pipelineClass = obj._class_name;
  if (typeof pipelineClass !== 'string') {
    throw new LorafuseError('config-invalid', `${file}: '_class_name' (the pipeline class) is missing.`, {
      file,
    });
  }
  const components: ModelIndexComponent[] = [];
  const options: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(obj)) {
    if (name.startsWith('_')) continue;
    if (Array.isArray(value) && value.length === 2) {
      const [library, className] = value;
      if (library === null && className === null) continue;
      if (typeof library !== 'string' || typeof className !== 'string') {
        throw new LorafuseError('config-invalid', `${file}: component '${name}' must be [library, class].`, {
          file,
          key: name,
        });
      }
      components.push({ name, library, className });
    } else {
      options[name] = value;
    }
  }
  return { file, pipelineClass, components, options };
}

/** The component entry, or undefined when the pipeline has no such component. */
export function findComponent(index: ModelIndex, name: string): ModelIndexComponent | undefined {
  return index.components.find((c) => c.name === name);
}
