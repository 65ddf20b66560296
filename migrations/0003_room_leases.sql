-- 0002_room_leases: which node of a cluster owns which room (package
-- cluster). A node serves a room only while it holds the room's lease; it
-- renews all of its leases in one statement every heartbeat, and a lease
-- not renewed expires, so that another node may take the room over. epoch
-- grows by one with every change of owner.

CREATE TABLE room_leases (
    room       text COLLATE "C" PRIMARY KEY CHECK (room <> ''),
    node       text NOT NULL CHECK (node <> ''),
    epoch      bigint NOT NULL CHECK (epoch > 0),
    expires_at timestamptz NOT NULL
);

CREATE INDEX room_leases_node ON room_leases (node);

COMMENT ON TABLE room_leases IS 'collabd cluster: the node that owns each live room, until expires_at unless renewed';
