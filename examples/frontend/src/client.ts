// A minimal typed client: fetch + the TypedDocumentNode the client preset generates. A real app
// would use urql or Apollo Client, which take the same documents.
import { print } from "graphql";
import type { TypedDocumentNode } from "@graphql-typed-document-node/core";

export type GraphQLErrorCode =
  | "UNAUTHENTICATED"
  | "FORBIDDEN"
  | "GRAPHQL_PARSE_FAILED"
  | "GRAPHQL_VALIDATION_FAILED"
  | "BAD_USER_INPUT"
  | "INTERNAL_SERVER_ERROR"
  | (string & {});

export class GraphQLRequestError extends Error {
  constructor(
    readonly status: number,
    readonly codes: GraphQLErrorCode[],
    message: string,
  ) {
    super(message);
  }
}

export async function request<TResult, TVariables>(
  endpoint: string,
  authorization: string,
  document: TypedDocumentNode<TResult, TVariables>,
  variables: TVariables,
): Promise<TResult> {
  const response = await fetch(endpoint, {
    method: "POST",
    headers: { "content-type": "application/json", authorization },
    body: JSON.stringify({ query: print(document), variables }),
  });
  // Every answer of /graphql is a GraphQL body, the 401 included.
  const body = (await response.json()) as {
    data?: TResult | null;
    errors?: { message: string; extensions?: { code?: string } }[];
  };
  if (body.errors?.length || body.data == null) {
    const errors = body.errors ?? [];
    throw new GraphQLRequestError(
      response.status,
      errors.map((e) => e.extensions?.code ?? "UNKNOWN"),
      errors.map((e) => e.message).join("; "),
    );
  }
  return body.data;
}
