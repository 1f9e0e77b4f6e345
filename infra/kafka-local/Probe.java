// Readiness probe for kafka.sh, run with Java's single-file source launcher against the broker's
// own classpath (kafka-clients is on it): a real Metadata request through the AdminClient.
// With "warm", it also makes the broker create and load its group and transaction coordinators
// (__consumer_offsets, __transaction_state), so the first test using them does not race the loading.
// Usage: java -cp <classpath> Probe.java <bootstrap> [timeoutMs] [warm]
import java.util.Collection;
import java.util.Properties;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.DescribeClusterResult;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.Node;

public class Probe {
  public static void main(String[] args) throws Exception {
    String bootstrap = args.length > 0 ? args[0] : "127.0.0.1:9092";
    int timeoutMs = args.length > 1 ? Integer.parseInt(args[1]) : 5000;
    boolean warm = args.length > 2 && args[2].equals("warm");
    Properties props = new Properties();
    props.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
    props.put(AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG, timeoutMs);
    props.put(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, timeoutMs);
    props.put(AdminClientConfig.RECONNECT_BACKOFF_MAX_MS_CONFIG, 500);
    try (Admin admin = Admin.create(props)) {
      DescribeClusterResult cluster = admin.describeCluster();
      Collection<Node> nodes = cluster.nodes().get(timeoutMs, TimeUnit.MILLISECONDS);
      String clusterId = cluster.clusterId().get(timeoutMs, TimeUnit.MILLISECONDS);
      int topics = admin.listTopics().names().get(timeoutMs, TimeUnit.MILLISECONDS).size();
      String warmed = "";
      if (warm) {
        // FindCoordinator(GROUP) creates __consumer_offsets; the admin retries until it is loaded.
        admin.listConsumerGroupOffsets("tradecore-kafka-local-warmup").partitionsToOffsetAndMetadata()
            .get(60, TimeUnit.SECONDS);
        Properties p = new Properties();
        p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        p.put(ProducerConfig.TRANSACTIONAL_ID_CONFIG, "tradecore-kafka-local-warmup");
        p.put(ProducerConfig.MAX_BLOCK_MS_CONFIG, 60000);
        try (KafkaProducer<byte[], byte[]> producer =
            new KafkaProducer<>(p, new ByteArraySerializer(), new ByteArraySerializer())) {
          producer.initTransactions(); // FindCoordinator(TRANSACTION) + InitProducerId
        }
        warmed = " coordinators=loaded";
      }
      System.out.println("ok cluster=" + clusterId + " brokers=" + nodes.size() + " topics=" + topics + warmed);
    } catch (Exception e) {
      System.out.println("not ready: " + e);
      System.exit(1);
    }
  }
}
