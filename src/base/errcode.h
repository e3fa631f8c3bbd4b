/*
 * errcode.h - the closed list of error codes Parley itself sets (STYLE rule 16).
 *
 * Every code string a `struct err` carries from code in src/ is a row of ERRCODE_TABLE: its name,
 * the HTTP status the API answers with, its fault class (who is to blame, as X-Ray counts it:
 * client -> "error", throttle -> "error"+"throttle", server -> "fault") and whether retrying the
 * same call may succeed. The API status mapping (runtime/api.c and the Lambda RequestHandler), the
 * trace classifier (telemetry/trace.c) and the Lambda errorType all read this one table, so they
 * cannot disagree. Codes relayed from a remote service (an AWS error name, for instance) are not
 * rows: lookups of an unknown name return the documented defaults.
 */
#ifndef PARLEY_ERRCODE_H
#define PARLEY_ERRCODE_H

enum errcode_class {
    ERRCODE_CLIENT,   /* the caller sent something wrong (4xx) */
    ERRCODE_THROTTLE, /* a rate or capacity limit; retrying later may work */
    ERRCODE_SERVER,   /* our fault or a dependency's (5xx) */
};

/* X(identifier, "Code", HTTP status, class, retryable). Codes with a dot use '_' in the
 * identifier. Keep rows grouped by family; the unit test checks names are unique. Codes the API
 * never answers with keep status 500; their class is what X-Ray has always been told for them. */
#define ERRCODE_TABLE(X)                                                                           \
    /* request validation (the API's 4xx) */                                                       \
    X(InvalidRequest, "InvalidRequest", 400, ERRCODE_CLIENT, 0)                                    \
    X(MalformedJson, "MalformedJson", 400, ERRCODE_CLIENT, 0)                                      \
    X(InvalidUtf8, "InvalidUtf8", 400, ERRCODE_CLIENT, 0)                                          \
    X(Unauthorized, "Unauthorized", 401, ERRCODE_CLIENT, 0)                                        \
    X(Forbidden, "Forbidden", 403, ERRCODE_CLIENT, 0)                                              \
    X(NotFound, "NotFound", 404, ERRCODE_CLIENT, 0)                                                \
    X(MethodNotAllowed, "MethodNotAllowed", 405, ERRCODE_CLIENT, 0)                                \
    X(Conflict, "Conflict", 409, ERRCODE_CLIENT, 0)                                                \
    X(NotImplemented, "NotImplemented", 501, ERRCODE_SERVER, 0)                                    \
    X(PayloadTooLarge, "PayloadTooLarge", 413, ERRCODE_CLIENT, 0)                                  \
    X(UnsupportedMediaType, "UnsupportedMediaType", 415, ERRCODE_CLIENT, 0)                        \
    X(IdempotencyMismatch, "IdempotencyMismatch", 422, ERRCODE_CLIENT, 0)                          \
    X(RequestTimeout, "RequestTimeout", 408, ERRCODE_CLIENT, 0)                                    \
    X(TooManyRequests, "TooManyRequests", 429, ERRCODE_THROTTLE, 1)                                \
    X(ServiceUnavailable, "ServiceUnavailable", 503, ERRCODE_SERVER, 1)                            \
    /* model port */                                                                               \
    X(ModelThrottled, "ModelThrottled", 503, ERRCODE_THROTTLE, 1)                                  \
    X(ModelTimeout, "ModelTimeout", 504, ERRCODE_SERVER, 1)                                        \
    X(ModelError, "ModelError", 502, ERRCODE_SERVER, 0)                                            \
    X(ModelBadResponse, "ModelBadResponse", 502, ERRCODE_SERVER, 0)                                \
    X(ModelConfig, "ModelConfig", 500, ERRCODE_SERVER, 0)                                          \
    /* workflow (ASL engine, Step Functions) */                                                    \
    X(States_Timeout, "States.Timeout", 504, ERRCODE_SERVER, 1)                                    \
    X(States_Runtime, "States.Runtime", 500, ERRCODE_SERVER, 0)                                    \
    X(States_TaskFailed, "States.TaskFailed", 500, ERRCODE_SERVER, 0)                              \
    X(States_InvalidDefinition, "States.InvalidDefinition", 500, ERRCODE_SERVER, 0)                \
    X(States_IntrinsicFailure, "States.IntrinsicFailure", 500, ERRCODE_SERVER, 0)                  \
    X(States_ResultPathMatchFailure, "States.ResultPathMatchFailure", 500, ERRCODE_SERVER, 0)      \
    X(WorkflowError, "WorkflowError", 500, ERRCODE_SERVER, 0)                                      \
    X(ExecutionLimitExceeded, "ExecutionLimitExceeded", 503, ERRCODE_SERVER, 1)                    \
    X(ThrottlingException, "ThrottlingException", 503, ERRCODE_THROTTLE, 1)                        \
    X(InvalidPath, "InvalidPath", 500, ERRCODE_CLIENT, 0)                                          \
    X(InvalidIntrinsic, "InvalidIntrinsic", 500, ERRCODE_CLIENT, 0)                                \
    X(InvalidMockConfig, "InvalidMockConfig", 500, ERRCODE_CLIENT, 0)                              \
    /* store */                                                                                    \
    X(StoreBusy, "StoreBusy", 503, ERRCODE_SERVER, 1)                                              \
    X(StoreError, "StoreError", 500, ERRCODE_SERVER, 0)                                            \
    X(InvalidKey, "InvalidKey", 500, ERRCODE_CLIENT, 0)                                            \
    X(InvalidQuery, "InvalidQuery", 500, ERRCODE_CLIENT, 0)                                        \
    X(InvalidAttributeName, "InvalidAttributeName", 500, ERRCODE_CLIENT, 0)                        \
    X(InvalidAttributeValue, "InvalidAttributeValue", 500, ERRCODE_CLIENT, 0)                      \
    /* queue */                                                                                    \
    X(QueueError, "QueueError", 500, ERRCODE_SERVER, 0)                                            \
    X(QueueDoesNotExist, "QueueDoesNotExist", 500, ERRCODE_SERVER, 0)                              \
    X(ReceiptHandleIsInvalid, "ReceiptHandleIsInvalid", 500, ERRCODE_SERVER, 0)                    \
    X(MessageNotInflight, "MessageNotInflight", 500, ERRCODE_SERVER, 0)                            \
    X(InvalidParameterValue, "InvalidParameterValue", 500, ERRCODE_CLIENT, 0)                      \
    /* archive */                                                                                  \
    X(ArchiveError, "ArchiveError", 500, ERRCODE_SERVER, 0)                                        \
    X(ArchiveCold, "ArchiveCold", 500, ERRCODE_SERVER, 0)                                          \
    X(ArchiveCorrupt, "ArchiveCorrupt", 500, ERRCODE_SERVER, 0)                                    \
    X(ArchiverError, "ArchiverError", 500, ERRCODE_SERVER, 0)                                      \
    X(ArchiverFull, "ArchiverFull", 500, ERRCODE_SERVER, 1)                                        \
    X(ArchiverStopped, "ArchiverStopped", 500, ERRCODE_SERVER, 0)                                  \
    /* bus */                                                                                      \
    X(BusFull, "BusFull", 500, ERRCODE_SERVER, 1)                                                  \
    X(BusClosed, "BusClosed", 500, ERRCODE_SERVER, 0)                                              \
    X(InvalidEvent, "InvalidEvent", 500, ERRCODE_CLIENT, 0)                                        \
    X(InvalidEventPattern, "InvalidEventPattern", 500, ERRCODE_CLIENT, 0)                          \
    /* HTTP client and AWS */                                                                      \
    X(HttpError, "HttpError", 500, ERRCODE_SERVER, 0)                                              \
    X(HttpTimeout, "HttpTimeout", 500, ERRCODE_SERVER, 1)                                          \
    X(HttpConnect, "HttpConnect", 500, ERRCODE_SERVER, 1)                                          \
    X(HttpAborted, "HttpAborted", 500, ERRCODE_SERVER, 0)                                          \
    X(HttpTooLarge, "HttpTooLarge", 500, ERRCODE_SERVER, 0)                                        \
    X(AwsConfig, "AwsConfig", 500, ERRCODE_SERVER, 0)                                              \
    /* agent: tools, knowledge base, schemas */                                                    \
    X(UnknownTool, "UnknownTool", 500, ERRCODE_SERVER, 0)                                          \
    X(ToolFailed, "ToolFailed", 500, ERRCODE_SERVER, 0)                                            \
    X(InvalidInput, "InvalidInput", 500, ERRCODE_CLIENT, 0)                                        \
    X(InvalidSchema, "InvalidSchema", 500, ERRCODE_CLIENT, 0)                                      \
    X(KbEmpty, "KbEmpty", 500, ERRCODE_SERVER, 0)                                                  \
    X(KbLoadFailed, "KbLoadFailed", 500, ERRCODE_SERVER, 0)                                        \
    X(KbSearchFailed, "KbSearchFailed", 500, ERRCODE_SERVER, 0)                                    \
    X(IntentDataInvalid, "IntentDataInvalid", 500, ERRCODE_SERVER, 0)                              \
    /* Lambda host */                                                                              \
    X(HandlerNotFound, "HandlerNotFound", 500, ERRCODE_SERVER, 0)                                  \
    X(RuntimeApiError, "RuntimeApiError", 500, ERRCODE_SERVER, 1)                                  \
    X(Runtime_UnknownReason, "Runtime.UnknownReason", 500, ERRCODE_SERVER, 0)                      \
    X(Runtime_DeadlineExceeded, "Runtime.DeadlineExceeded", 500, ERRCODE_SERVER, 0)                \
    X(Runtime_HandlerNotFound, "Runtime.HandlerNotFound", 500, ERRCODE_SERVER, 0)                  \
    X(Runtime_InvalidEvent, "Runtime.InvalidEvent", 500, ERRCODE_SERVER, 0)                        \
    X(Function_ResponseSizeTooLarge, "Function.ResponseSizeTooLarge", 500, ERRCODE_SERVER, 0)      \
    X(Lambda_ResourceNotFoundException, "Lambda.ResourceNotFoundException", 500, ERRCODE_SERVER,   \
      0)                                                                                           \
    /* base: settings, telemetry, files */                                                         \
    X(InvalidConfig, "InvalidConfig", 500, ERRCODE_CLIENT, 0)                                      \
    X(InvalidArgument, "InvalidArgument", 500, ERRCODE_CLIENT, 0)                                  \
    X(InvalidMetric, "InvalidMetric", 500, ERRCODE_CLIENT, 0)                                      \
    X(InvalidTraceHeader, "InvalidTraceHeader", 500, ERRCODE_CLIENT, 0)                            \
    X(TooLarge, "TooLarge", 500, ERRCODE_SERVER, 0)                                                \
    X(IOError, "IOError", 500, ERRCODE_SERVER, 0)                                                  \
    X(InternalError, "InternalError", 500, ERRCODE_SERVER, 0)

/* One enumerator per row, ERRCODE_<identifier>, then ERRCODE__COUNT. */
enum errcode {
#define ERRCODE_ENUM(id, name, status, cls, retry) ERRCODE_##id,
    ERRCODE_TABLE(ERRCODE_ENUM)
#undef ERRCODE_ENUM
        ERRCODE__COUNT
};

/* ---- Looking codes up (name match is exact and case-sensitive; NULL acts as unknown) ---- */

/* The row index of name, or -1 when name is not a row. */
int errcode_find(const char *name);

/* 1 when name is a row of the table. */
int errcode_known(const char *name);

/* The HTTP status the API answers name with; 500 for an unknown name. */
int errcode_status(const char *name);

/* The fault class of name. An unknown name (a remote service's error) is classed by its shape,
 * as AWS names its errors: "*Throttl*" / "*TooManyRequests*" throttle, "Invalid*",
 * "Validation*", "NotFound*", "Unauthorized*", "Forbidden*", "Conflict*", "PayloadTooLarge*"
 * client, anything else server. */
enum errcode_class errcode_class_of(const char *name);

/* 1 when retrying the same call may succeed; 0 for an unknown name. */
int errcode_retryable(const char *name);

/* The row's name by index (0 <= i < ERRCODE__COUNT), for tests and --help; NULL out of range. */
const char *errcode_name(int i);

#endif
