-- Run once by the postgres image, on an empty data volume, as the superuser.
-- One database per service (DESIGN.md): a service only ever connects to club_<service>, so no
-- query can reach another service's tables. Each service's migrations create its tables and any
-- extension it needs (btree_gist is a trusted extension: the database owner may create it).
CREATE DATABASE club_membership;
CREATE DATABASE club_booking;
CREATE DATABASE club_billing;
CREATE DATABASE club_integrations;
CREATE DATABASE club_notifications;
