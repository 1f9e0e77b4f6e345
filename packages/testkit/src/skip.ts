/** A resource a test needs, or the reason it is not available here. */
export interface Skip {
  skip: string;
}

export function isSkip(value: object): value is Skip {
  return 'skip' in value && typeof (value as Skip).skip === 'string';
}
