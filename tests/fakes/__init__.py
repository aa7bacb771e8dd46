"""Fake outside systems speaking the real wire protocols, as local HTTP servers on 127.0.0.1.

- `webpush.FakePushService`: a web-push service (RFC 8030) that checks the VAPID token (RFC 8292)
  and decrypts the aes128gcm payload (RFC 8291) with the subscription's own private key.
- `email_provider.FakeEmailProvider`: Resend's e-mail API (POST /emails with a bearer key) that
  records what it got, and signs delivery webhooks the way Resend does (Svix headers).
- `hubspot.FakeHubSpot`: HubSpot's CRM objects, search, associations, forms and submissions with a
  bearer token, 401/403/429 (Retry-After)/5xx on demand, and webhooks signed the v3 way.
- `google_calendar.FakeGoogleCalendar`: Google Calendar API v3 events (list with sync tokens and 410,
  insert, patch with If-Match etags and 412, delete) behind a bearer token.
- `eventbrite.FakeEventbrite`: Eventbrite's organisation events and attendees, paged by continuation.
- `trackman.TrackmanSender`: TrackMan's booking webhooks (V1 and V2 bodies) signed with HMAC-SHA256
  in `x-trackman-signature`.
"""
