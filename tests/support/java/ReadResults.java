// Reads a topic with Kafka's own Java consumer (read_committed), as a JVM downstream would.
// Usage: java -cp 'libs/*' ReadResults.java BOOTSTRAP TOPIC GROUP COUNT
// Prints "<key> <value as base64>" per record; exits 1 if fewer than COUNT arrive in 60 s.
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Base64;
import java.util.List;
import java.util.Properties;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;

public class ReadResults {
    public static void main(String[] args) {
        Properties config = new Properties();
        config.put("bootstrap.servers", args[0]);
        config.put("group.id", args[2]);
        config.put("auto.offset.reset", "earliest");
        config.put("isolation.level", "read_committed");
        config.put("key.deserializer", ByteArrayDeserializer.class.getName());
        config.put("value.deserializer", ByteArrayDeserializer.class.getName());
        int wanted = Integer.parseInt(args[3]);
        int got = 0;
        try (KafkaConsumer<byte[], byte[]> consumer = new KafkaConsumer<>(config)) {
            consumer.subscribe(List.of(args[1]));
            long deadline = System.currentTimeMillis() + 60_000;
            while (got < wanted && System.currentTimeMillis() < deadline) {
                for (ConsumerRecord<byte[], byte[]> record : consumer.poll(Duration.ofMillis(500))) {
                    String key = new String(record.key(), StandardCharsets.UTF_8);
                    System.out.println(key + " " + Base64.getEncoder().encodeToString(record.value()));
                    got++;
                }
            }
        }
        System.exit(got >= wanted ? 0 : 1);
    }
}
