// A run error as one block of text. A JavaScript stack already starts with "Name: message", so
// printing the heading and then the stack showed the message twice ("Error: xError: x").
export interface ShownError {
  name?: string | null;
  message?: string | null;
  stackTrace?: string | null;
}

export function errorText(error: ShownError): string {
  const heading = `${error.name || "Error"}: ${error.message ?? ""}`;
  const stack = (error.stackTrace ?? "").trimEnd();
  if (stack === "") return heading;
  if (stack.startsWith(heading) || (error.message && stack.includes(error.message))) return stack;
  return `${heading}\n${stack}`;
}
