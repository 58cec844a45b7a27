/**
 * Sizes the server enforces. The SDK validates against the same numbers before sending,
 * so an oversized input fails on the device with the same error the server would give.
 */
export const LIMITS = {
  /** Largest WebSocket frame the server accepts (bytes). An envelope plus framing must fit. */
  maxFrameBytes: 256 * 1024,
  /** Largest serialised envelope (bytes of JSON). */
  maxEnvelopeBytes: 96 * 1024,
  /** Largest ciphertext of one device part of an envelope (base64url characters). */
  maxCiphertextChars: 64 * 1024,
  /**
   * Largest opaque header of one device part (base64url characters). An E2E v2 first
   * message's header is 1,246 bytes (1,662 characters): it carries a 1,088-byte ML-KEM
   * ciphertext.
   */
  maxHeaderChars: 2048,
  /** Devices one envelope may address: the peer's devices plus the sender's own. */
  maxEnvelopeParts: 32,
  /** Devices (clients) one account may have at once. */
  maxClientsPerUser: 16,
  usernameMin: 3,
  usernameMax: 32,
  ageMin: 13,
  ageMax: 120,
  /** Age at which a user is an adult; minors and adults are never paired. */
  adultAge: 18,
  toleranceMax: 5,
  maxInterests: 5,
  interestMaxChars: 24,
  historyPageMax: 200,
  clientMessageIdMax: 64,
  reportNoteMax: 1000,
  disclosedMessagesMax: 20,
  disclosedMessageChars: 4000,
} as const;
