// `edge rule`: SQL in the style of the EMQX / ApsaraMQ rule engines, compiled once at deploy (flows/sql/compile.ts).
// A message the rule matches leaves with msg.payload = the SELECT result; any other message is filtered out and
// completed. Bad SQL is a node error and a red status, never a crash; messages reaching it complete with an error.
module.exports = (RED) => {
  function EdgeRuleNode(config) {
    RED.nodes.createNode(this, config);
    const gw = RED.settings.gatewayFlows;
    let rule = null;
    let problem = null;
    if (!gw) {
      problem = 'not running in the gateway';
    } else {
      try {
        rule = gw.compileRule(config.sql || '');
      } catch (err) {
        problem = err?.message || String(err);
      }
    }
    if (problem) {
      this.status({ fill: 'red', shape: 'ring', text: `bad SQL: ${problem.slice(0, 60)}` });
      this.error(`edge rule: ${problem}`);
    } else {
      this.status({ fill: 'green', shape: 'dot', text: rule.from.join(', ') });
    }
    let matched = 0;
    let filtered = 0;
    let statusTimer = null;
    const showCounts = () => {
      statusTimer = null;
      this.status({ fill: 'green', shape: 'dot', text: `${matched} matched, ${filtered} filtered` });
    };
    this.on('input', (msg, send, done) => {
      if (!rule) {
        done(new Error(`edge rule not compiled: ${problem}`));
        return;
      }
      let out;
      try {
        out = rule.run({
          topic: msg.topic,
          payload: msg.payload,
          clientid: msg.clientid,
          username: msg.username,
          qos: msg.qos,
          deviceSeq: msg.deviceSeq,
          timestamp: msg.ingestTs,
        });
      } catch (err) {
        done(err);
        return;
      }
      if (out === null) filtered++;
      else matched++;
      // Status goes to every open editor: at most once a second.
      if (!statusTimer) statusTimer = setTimeout(showCounts, 1000);
      if (out !== null) {
        msg.payload = out;
        send(msg);
      }
      done();
    });
    this.on('close', () => clearTimeout(statusTimer));
  }
  RED.nodes.registerType('edge rule', EdgeRuleNode);
};
