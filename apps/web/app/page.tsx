export default function Home() {
  return <main>kvmscope</main>;
}
