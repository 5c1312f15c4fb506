export function App() {
  return (
    <main>
      <h1>lorafuse</h1>
    </main>
  );
}
