// The sample retail database that the `retail` connector captures (run once by the mongo image, as the
// root user, on an empty data directory): a `debezium` user that may read and watch it. The password
// comes from the secret file, never from this script.
const password = require("fs").readFileSync("/run/secrets/retail_db_debezium_password", "utf8").trim();
db.getSiblingDB("admin").createUser({
  user: "debezium",
  pwd: password,
  // read + change streams on the captured database; the connector also lists databases and reads the
  // replica set's state.
  roles: [{ role: "read", db: "retail" }, { role: "read", db: "admin" }, { role: "clusterMonitor", db: "admin" }],
});
