// The documents a wallet screen needs, typed against the schema by the client preset.
import { graphql } from "./gql";
import type { WalletScreenQuery } from "./gql/graphql";
import { request } from "./client";

export const ViewerDocument = graphql(`
  query Viewer {
    viewer {
      clientName
      scopes
      org { id name timezone }
    }
  }
`);

export const WalletScreenDocument = graphql(`
  query WalletScreen($customerId: Long!, $after: String) {
    wallet(customerId: $customerId, first: 20, after: $after, status: [UNLOCKED, LOCKED]) {
      totalCount
      pageInfo { hasNextPage endCursor }
      edges {
        node {
          id
          status
          validTill
          validTillISO
          validTillLocal
          redemptionsRemaining
          redeemable
          promotion { id name type }
        }
      }
    }
  }
`);

export const RedeemDocument = graphql(`
  mutation Redeem($input: RedeemPromotionsInput!) {
    redeemPromotions(input: $input) {
      __typename
      ... on RedeemPromotionsSuccess { redemption { id transactionDateISO consumed { earnedPromotionId count } } }
      ... on PromotionNotRedeemableError { reason }
      ... on Error { code message retryable }
    }
  }
`);

type Entry = WalletScreenQuery["wallet"]["edges"][number]["node"];

/** "Valid until 31 May": the org's own day, from validTillLocal, without timezone rules here. */
export function validUntilLabel(entry: Entry): string {
  const [day] = entry.validTillLocal.split("T");
  return `Valid until ${day}`;
}

export function offerable(entry: Entry): boolean {
  return entry.redeemable && entry.redemptionsRemaining > 0;
}

export async function loadWallet(endpoint: string, authorization: string, customerId: string) {
  // A customer id above 2^53 stays exact as a string (Long accepts numeric strings).
  const { viewer } = await request(endpoint, authorization, ViewerDocument, {});
  const data = await request(endpoint, authorization, WalletScreenDocument, { customerId });
  const entries = data.wallet.edges.map((edge) => edge.node);
  return { timezone: viewer.org.timezone, offerable: entries.filter(offerable).map(validUntilLabel) };
}

export async function redeemOne(endpoint: string, authorization: string, customerId: number, promotionId: string) {
  const result = await request(endpoint, authorization, RedeemDocument, {
    input: {
      customerId,
      transactionIdentifier: `web-${Date.now()}`,
      transactionNumber: "web-1",
      transactionDate: Date.now(),
      amount: "1000",
      lineItems: [
        {
          promotionId,
          redemptionCount: 1,
          discount: "100",
          discountAppliedOnQuantity: 1,
          promotionAppliedOnQuantity: 1,
        },
      ],
    },
  });
  const payload = result.redeemPromotions;
  switch (payload.__typename) {
    case "RedeemPromotionsSuccess":
      return payload.redemption.id;
    case "PromotionNotRedeemableError":
      throw new Error(`not redeemable: ${payload.reason}`);
    default:
      throw new Error(`${payload.__typename}: ${"message" in payload ? payload.message : ""}`);
  }
}
