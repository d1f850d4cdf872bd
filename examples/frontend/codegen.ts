// graphql-codegen's client preset, as a frontend team sets it up: typed documents from the
// service's committed SDL (../../schema.graphql, generated from the code), no running server.
import type { CodegenConfig } from "@graphql-codegen/cli";

const config: CodegenConfig = {
  schema: "../../schema.graphql",
  documents: ["src/**/*.ts", "!src/gql/**/*"],
  ignoreNoDocuments: false,
  generates: {
    "./src/gql/": {
      preset: "client",
      config: {
        // Long is a 64-bit integer, a JSON number in answers; inputs also accept numeric strings,
        // which is how ids above 2^53 (Number.MAX_SAFE_INTEGER) must be sent from JavaScript.
        scalars: {
          Long: { input: "number | string", output: "number" },
          DateTime: { input: "string", output: "string" },
          Decimal: { input: "string | number", output: "string" },
        },
        enumsAsTypes: true,
        strictScalars: true,
        useTypeImports: true,
      },
    },
  },
};

export default config;
