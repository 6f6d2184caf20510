/** The error an emulated AWS operation answers with: wire code, HTTP status and message. @module */

/** Which wire family an error is rendered for: awsJson1_1 (ACM PCA, KMS) or awsQuery XML (STS). */
export type WireProtocol = "json" | "query";

/**
 * An AWS service error as the real service puts it on the wire. `code` is the `__type` (JSON) or
 * `<Code>` (XML) value the SDK turns into an exception class name.
 */
export class AwsError extends Error {
  readonly code: string;
  readonly status: number;
  constructor(code: string, message: string, status = 400) {
    super(message);
    this.name = "AwsError";
    this.code = code;
    this.status = status;
  }
}

/** The one common validation error shape AWS JSON services use for modelled constraint failures. */
export function validationError(message: string): AwsError {
  return new AwsError("ValidationException", message);
}

/** Builds AWS's "1 validation error detected" text for one member constraint. */
export function constraintError(value: unknown, member: string, constraint: string): AwsError {
  return validationError(
    `1 validation error detected: Value '${String(value)}' at '${member}' failed to satisfy constraint: ${constraint}`,
  );
}

/** Renders an error as the awsJson1_1 body and headers that both SDK generations parse. */
export function jsonErrorResponse(err: AwsError, requestId: string): Response {
  return new Response(JSON.stringify({ __type: err.code, message: err.message }), {
    status: err.status,
    headers: {
      "content-type": "application/x-amz-json-1.1",
      "x-amzn-requestid": requestId,
      "x-amzn-errortype": err.code,
    },
  });
}

/** Escapes text for an XML element body. */
export function xmlEscape(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}

/** Renders an error as the awsQuery `<ErrorResponse>` document STS (and, with its namespace, IAM) answers with. */
export function xmlErrorResponse(err: AwsError, requestId: string, ns = "https://sts.amazonaws.com/doc/2011-06-15/"): Response {
  const type = err.status >= 500 ? "Receiver" : "Sender";
  const body = `<ErrorResponse xmlns="${ns}">\n` +
    `  <Error>\n    <Type>${type}</Type>\n    <Code>${xmlEscape(err.code)}</Code>\n` +
    `    <Message>${xmlEscape(err.message)}</Message>\n  </Error>\n` +
    `  <RequestId>${requestId}</RequestId>\n</ErrorResponse>\n`;
  return new Response(body, {
    status: err.status,
    headers: { "content-type": "text/xml", "x-amzn-requestid": requestId },
  });
}
